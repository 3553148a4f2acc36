"""What keeps the tray agent's idle RSS under 90 MB (GOALS.md), checked where it can regress.

- PySide6's import hook must keep no module source in ``linecache`` (~9 MB).
- The agent builds the validators of its own channel only, never the console's.

The RSS itself is measured by ``python -m bench.agent`` (docs/performance.md).
Each check runs in a fresh interpreter: this one has imported and built everything.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def run_python(*parts: str) -> str:
    code = "\n".join(textwrap.dedent(part) for part in parts)
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


KEPT_SOURCES = """
    import linecache
    kept = sorted(
        name.rsplit("/", 2)[-2] + "/" + name.rsplit("/", 1)[-1]
        for name, entry in linecache.cache.items()
        if len(entry) == 4 and entry[2]  # (size, mtime, lines, path): lines read and kept
    )
    print(kept)
"""


def test_pyside_alone_keeps_the_source_of_every_later_import() -> None:
    """Why agent/qtimport.py exists; if this fails, PySide6 changed and it may go."""
    out = run_python(
        """
        import PySide6
        from agent.popup import PopupManager
        """,
        KEPT_SOURCES,
    )
    assert "agent/popup.py" in out
    assert "agent/sound.py" in out


def test_import_pyside_keeps_no_source_and_classifies_modules_as_pyside_does() -> None:
    out = run_python(
        """
        from agent.qtimport import import_pyside
        assert import_pyside()
        from agent.popup import PopupManager
        from PySide6.support import feature
        seen = feature.pyside_feature_dict
        print(seen["agent.popup"], seen["shared.domain"])  # 0: uses PySide6, -1: does not
        """,
        KEPT_SOURCES,
    )
    classes, kept = out.splitlines()
    assert classes == "0 -1"
    assert kept == "[]"


CONSOLE_ONLY = [  # IncidentReport is console-only too, but built at import (a REST body)
    "ConsoleAlarm",
    "WorkstationStatus",
    "AlarmSnapshot",
    "ConsoleAlarmChanged",
    "Acknowledge",
    "Arrive",
    "Resolve",
    "WorkstationChanged",
]


def test_the_agent_builds_and_imports_no_console_model(tmp_path: Path) -> None:
    out = run_python(
        f"""
        import sys, uuid, tempfile
        from pathlib import Path
        from agent.qtimport import import_pyside
        import_pyside()
        import agent.app, agent.cli, agent.instance, agent.trigger
        from agent.outbox import Outbox
        from shared import protocol as p
        from shared.domain import AlarmLevel, AlarmState, Answer, Instruction, Trigger

        # Everything the agent sends and receives, as agent/link.py does it.
        alarm = p.RaiseAlarm(alarm_id=uuid.uuid4(), level=AlarmLevel.THREAT,
                             trigger=Trigger.TRAY, raised_at=p.utc_now())
        sent = [
            p.Hello(protocol=1, workstation_id="pc", token="t", agent_version="1"), alarm,
            p.CancelAlarm(alarm_id=alarm.alarm_id), p.Receipt(alarm_id=alarm.alarm_id),
            p.Respond(alarm_id=alarm.alarm_id, answer=Answer.COMING), p.Ping(), p.Pong(),
        ]
        for message in sent:
            p.encode(message)
        received = [
            p.Welcome(protocol=1, hub_version="1", heartbeat_interval=5,
                      workstation=p.WorkstationInfo(workstation_id="pc", room=None),
                      levels=[p.LevelSettings(level=AlarmLevel.THREAT)]),
            p.AlarmStored(alarm_id=alarm.alarm_id, stored_at=p.utc_now()),
            p.AlarmNotify(alarm_id=alarm.alarm_id, level=AlarmLevel.THREAT,
                          instruction=Instruction.COME_HELP,
                          room=p.RoomRef(number="1", name="A", floor="1"), raiser="B",
                          raised_at=p.utc_now(),
                          responders=[p.Responder(name="C", answer=Answer.COMING)]),
            p.AlarmUpdate(alarm_id=alarm.alarm_id, state=AlarmState.ACTIVE, responders=[]),
            p.Ping(), p.Pong(), p.Error(code=p.ErrorCode.NO_DRILL, message="x"),
        ]
        for message in received:
            assert p.hub_to_agent.validate_json(p.encode(message)) == message
        outbox = Outbox(Path(tempfile.mkdtemp(dir={str(tmp_path)!r})))
        outbox.add(alarm)
        assert outbox.pending() == [alarm]

        console = {CONSOLE_ONLY!r}
        built = [name for name in console if getattr(p, name).__pydantic_complete__]
        channels = ("console_to_hub", "hub_to_console")
        built += [n for n in channels if p.CHANNELS[n].pydantic_complete]
        imported = sorted(
            f"{{module}}.{{name}}"
            for module, loaded in sys.modules.items() if module.startswith("agent")
            for name, value in vars(loaded).items()
            if any(value is getattr(p, c) for c in [*console, "IncidentReport"])
        )
        print(built, imported)
        """
    )
    assert out == "[] []"
