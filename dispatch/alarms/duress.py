"""The raiser's duress cancel: "withdrawn" for the raiser and staff, level 3 for security.

Someone forced to withdraw an alarm uses the duress cancel (issue 16). It is not a
cancel: the alarm stays open, its level becomes 3, security workstations keep it (or
get it) with the location and the police instruction, and the console marks it
"unter Zwang zurückgenommen". The raiser and staff colleagues are told it was
withdrawn, exactly as after a normal cancel (``AlarmRecord.told_withdrawn``).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, update

from dispatch.alarms.audit import audit_alarm
from dispatch.alarms.lifecycle import Actor, AlarmError, Event, decide
from dispatch.alarms.plan import INSERT_RECIPIENTS, read_placement, recipient_rows
from dispatch.alarms.reads import load_record
from dispatch.alarms.record import AlarmRecord
from dispatch.directory.identities import WorkstationView
from dispatch.routing.holder import RoutingHolder
from dispatch.routing.rules import Delivery
from dispatch.routing.snapshot import current_version
from dispatch.store.audit import AuditTrail
from dispatch.store.database import Database
from dispatch.store.models import Alarm, AlarmRecipient
from shared.domain import AlarmKind, AlarmLevel, AlarmState, Instruction, WorkstationRole
from shared.protocol import utc_now


async def cancel_under_duress(
    db: Database, routing: RoutingHolder, alarm_id: uuid.UUID, raiser: WorkstationView
) -> tuple[AlarmRecord, list[str]]:
    """Keeps the alarm open at level 3; returns it with the security workstations to tell.

    Asked again, nothing changes (and nobody is told twice).
    """
    async with db.write() as session:
        alarm = await session.get(Alarm, str(alarm_id))
        if alarm is None or alarm.workstation_id != raiser.id:
            raise AlarmError("unknown_alarm", "no such alarm raised by this workstation")
        step = decide(
            AlarmState(alarm.state), Event.CANCEL_UNDER_DURESS, Actor.RAISER, AlarmKind(alarm.kind)
        )
        if alarm.cancelled_under_duress_at is not None:
            return await load_record(session, alarm_id), []
        now = utc_now()
        audit = await AuditTrail.open(session)
        snapshot = await routing.snapshot(session, await current_version(session))
        placement = snapshot.placement(alarm.workstation_id) or await read_placement(
            session, alarm.workstation_id
        )
        placement = snapshot.placement_in(placement, alarm.room_id)
        policy = snapshot.policy(placement.site_id, AlarmLevel.DANGER)
        scopes = policy.scopes.union(s.scope for s in policy.escalation)
        # Only security is told more; a staff colleague newly in the circle hears nothing.
        security = {
            d.workstation_id: d
            for d in snapshot.route(AlarmLevel.DANGER, placement, scopes)
            if d.instruction is Instruction.SECURE_AND_CALL_POLICE
        }
        known = set(
            await session.scalars(
                select(AlarmRecipient.workstation_id).where(AlarmRecipient.alarm_id == alarm.id)
            )
        )
        # Security already told at a lower level is now told level 3, with the location.
        keep = [
            ws
            for ws in known
            if ws in security
            or ((p := snapshot.placement(ws)) is not None and p.role is WorkstationRole.SECURITY)
        ]
        if keep:
            await session.execute(
                update(AlarmRecipient)
                .where(AlarmRecipient.alarm_id == alarm.id, AlarmRecipient.workstation_id.in_(keep))
                .values(instruction=Instruction.SECURE_AND_CALL_POLICE.value, with_location=True)
            )
        added: list[Delivery] = [d for ws, d in security.items() if ws not in known]
        if added:
            await session.execute(
                INSERT_RECIPIENTS,
                recipient_rows(alarm.id, added, step=alarm.escalation_step),
            )
        alarm.state = step.to.value
        alarm.level = int(AlarmLevel.DANGER)
        alarm.cancelled_under_duress_at = now
        alarm.next_escalation_at = None  # staff must not be drawn in; security has it
        alarm.reach_due_at = None  # the raiser was told "withdrawn", nothing more
        audit_alarm(
            audit,
            f"workstation:{raiser.id}",
            "alarm_cancelled_under_duress",
            alarm,
            now,
            security=len(keep) + len(added),
        )
        record = await load_record(session, alarm_id)
        return record, sorted([*keep, *(d.workstation_id for d in added)])
