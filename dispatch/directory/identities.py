"""Who is connected or logged in, as read once at the handshake or login."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.domain import OperatorRole, WorkstationRole
from shared.protocol import RoomRef


@dataclass(frozen=True, slots=True)
class WorkstationView:
    """Who a connected agent is, read once at its handshake.

    Where it is is not kept here: a PC can be moved while its agent stays
    connected, so alarms and the agent's room updates read the placement from the
    routing snapshot (dispatch/routing/snapshot.py). ``site_id`` and
    ``room_at_connect`` only fill the welcome (the site's level settings and the
    room the agent shows until the hub tells it otherwise).
    """

    id: str
    site_id: int
    role: WorkstationRole
    display_name: str
    self_test_at: datetime | None = None
    self_test_ok: bool | None = None
    room_at_connect: RoomRef | None = None
    # A remote session's client (issue 19): the terminal server it speaks through. The
    # id above is then the client's, and so are the room and the alarms.
    session_host: str | None = None


@dataclass(frozen=True, slots=True)
class OperatorView:
    id: int
    username: str
    display_name: str
    role: OperatorRole
    sites: frozenset[int] = frozenset()  # the sites covered; empty: every site
    # Sessions started at another epoch are over (dispatch/directory/sessions.py).
    session_epoch: int = 0
