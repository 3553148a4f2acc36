"""The audit event about one stored alarm: who did what to it, where, and when."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from dispatch.store.audit import AuditTrail
from dispatch.store.models import Alarm


def audit_alarm(
    audit: AuditTrail, actor: str, action: str, alarm: Alarm, at: datetime, **detail: Any
) -> None:
    """Appends ``action`` naming the alarm, its raiser's workstation and its room."""
    audit.append(
        actor,
        action,
        alarm_id=uuid.UUID(alarm.id),
        workstation_id=alarm.workstation_id,
        room_id=alarm.room_id,
        at=at,
        **detail,
    )
