"""Why a workstation is not protected, as the coverage board shows it: one list, both sides.

The agent reports what only it can see (agent_health: hotkey, tray, room, its
self-test); the hub adds what it knows itself. An offline PC has one reason,
"offline": whatever its agent said before is stale.
"""

from __future__ import annotations

from collections.abc import Sequence

OFFLINE = "offline"
NO_ROOM = "no_room"
SELF_TEST_FAILED = "self_test_failed"


def unprotected_reasons(
    *,
    online: bool,
    agent: Sequence[str] = (),
    has_room: bool | None = None,
    self_test_ok: bool | None = None,
) -> list[str]:
    """The reasons in a stable order ([]: protected as far as the hub knows).

    has_room None: not known here (the PC's socket is on another hub instance).
    """
    if not online:
        return [OFFLINE]
    reasons = list(dict.fromkeys(agent))
    if has_room is True and NO_ROOM in reasons:
        # The hub's mapping is the truth: the agent's word predates an assignment.
        reasons.remove(NO_ROOM)
    if has_room is False and NO_ROOM not in reasons:
        reasons.append(NO_ROOM)
    if self_test_ok is False and SELF_TEST_FAILED not in reasons:
        reasons.append(SELF_TEST_FAILED)
    return reasons
