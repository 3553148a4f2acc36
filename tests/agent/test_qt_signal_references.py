"""The agent's Qt signals keep Python's reference counts: the agent runs for weeks.

PySide6 6.12.0 dropped a reference to ``True`` on every ``Signal.emit``; after a few
thousand signals the agent aborted ("bool_dealloc: deallocating True or False"), found
by ``python -m bench.hotkey`` at the 65th alarm (pyproject.toml excludes that release).
The agent's own ``LinkSignals`` emit in a fresh interpreter, so a release with such a
bug fails here with the counts instead of aborting the test run.
"""

from __future__ import annotations

import json

from tests.support.fresh_interpreter import run_python


def test_emitting_the_agents_signals_leaves_every_reference_count_as_it_was() -> None:
    out = run_python(
        """
        import json, os, sys, uuid
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6.QtCore import QCoreApplication
        from agent.link_signals import LinkSignals
        app = QCoreApplication([])
        signals = LinkSignals()
        signals.link_changed.connect(lambda up: None)
        signals.update.connect(lambda update: None)
        signals.peers.connect(lambda alarm_id, acknowledged, asked: None)
        watched = {"True": True, "False": False, "None": None}
        before = {name: sys.getrefcount(value) for name, value in watched.items()}
        alarm_id = uuid.uuid4()
        for _ in range(300):  # far fewer than it takes to reach zero
            signals.link_changed.emit(True)
            signals.update.emit(None)
            signals.peers.emit(alarm_id, 1, 2)
        app.processEvents()
        print(json.dumps({n: sys.getrefcount(v) - before[n] for n, v in watched.items()}))
        """
    )
    assert json.loads(out) == {"True": 0, "False": 0, "None": 0}
