"""The periodic check of directory operators with a live session: gone, disabled or unmapped
accounts lose their sessions, changed groups change their rights.

Each round asks the directory about every directory operator whose latest login
may still have a live session (``session_started_at`` within the session
lifetime). Ending the sessions raises the session epoch: REST calls are refused
at once, open consoles are closed within a supervision round. A directory that
does not answer ends nothing: the round is logged (``directory_unreachable``)
and the next one tries again, so an outage never locks the guards out.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy import select

from dispatch.directory.directory_accounts import (
    DIRECTORY,
    apply_rights,
    end_live_sessions,
    known_rights,
)
from dispatch.directory.directory_rights import rights_of
from dispatch.directory.ldap_directory import DirectoryUnavailable, DirectoryUser, LdapDirectory
from dispatch.store.audit import AuditTrail
from dispatch.store.database import Database
from dispatch.store.models import Operator
from shared.protocol import utc_now

log = structlog.get_logger(__name__)


@dataclass
class Round:
    """What one check found."""

    checked: int = 0
    ended: int = 0  # operators whose sessions ended: gone, disabled or unmapped
    changed: int = 0  # operators whose role or sites changed (their sessions end too)
    unreachable: bool = False


class DirectoryWatch:
    """Runs ``run_once`` every ``interval`` seconds while the hub runs."""

    def __init__(
        self, db: Database, directory: LdapDirectory, *, interval: float, session_max_age: int
    ) -> None:
        self._db = db
        self._directory = directory
        self._interval = interval
        self._max_age = timedelta(seconds=session_max_age)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._every_interval(), name="directory-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run_once(self) -> Round:
        found = Round()
        since = utc_now() - self._max_age
        async with self._db.read() as session:
            live = (
                await session.execute(
                    select(Operator.id, Operator.username).where(
                        Operator.source == DIRECTORY,
                        Operator.disabled.is_(False),
                        Operator.session_started_at > since,
                    )
                )
            ).all()
        for operator_id, username in live:
            try:
                user = await asyncio.to_thread(self._directory.find_user, username)
            except DirectoryUnavailable as error:
                # Keep every session: locking all guards out because the directory is down
                # would do more harm than a disabled account keeping its session a while.
                log.error("directory_unreachable", during="session_check", reason=str(error))
                found.unreachable = True
                return found
            found.checked += 1
            await self._judge(operator_id, username, user, found)
        return found

    async def _judge(
        self, operator_id: int, username: str, user: DirectoryUser | None, found: Round
    ) -> None:
        if user is None:
            reason = "directory_account_gone"
        elif user.disabled:
            reason = "directory_disabled"
        else:
            reason = "directory_not_mapped"
        wanted = (
            None
            if user is None or user.disabled
            else rights_of(user.groups, self._directory.group_roles, self._directory.group_sites)
        )
        async with self._db.write() as session:
            row = await session.get(Operator, operator_id)
            if row is None or row.source != DIRECTORY:
                return
            rights = await known_rights(session, wanted)
            if user is None or rights is None:
                if await end_live_sessions(session, row, reason):
                    found.ended += 1
                    log.info("directory_sessions_ended", operator=username, reason=reason)
                return
            audit = await AuditTrail.open(session)
            if await apply_rights(session, row, user.display_name, rights, audit):
                found.changed += 1
                log.info("directory_rights_changed", operator=username)

    async def _every_interval(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                found = await self.run_once()
            except Exception as error:  # the next round tries again; the alarm path goes on
                log.warning("directory_check_failed", error=str(error))
                continue
            if found.ended or found.changed:
                log.info(
                    "directory_checked",
                    checked=found.checked,
                    ended=found.ended,
                    changed=found.changed,
                )
