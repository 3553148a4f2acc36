"""The protocol builds validators lazily; the hub builds all of them at start.

Each check runs in a fresh interpreter: in this one other tests have long since
built every model.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.fresh_interpreter import in_started_hub, run_python


def test_importing_the_protocol_builds_no_validator_but_the_rest_bodys() -> None:
    out = run_python(
        """
        from shared import protocol
        built = [m.__name__ for m in protocol.models() if m.__pydantic_complete__]
        built += [n for n, a in protocol.CHANNELS.items() if a.pydantic_complete]
        print(built)
        """
    )
    assert out == "['IncidentReport']"  # a FastAPI request body: see its model_config


def test_build_all_builds_every_model_and_channel() -> None:
    out = run_python(
        """
        from shared import protocol
        protocol.build_all()
        missing = [m.__name__ for m in protocol.models() if not m.__pydantic_complete__]
        missing += [n for n, a in protocol.CHANNELS.items() if not a.pydantic_complete]
        print(len(protocol.models()), missing)
        """
    )
    count, missing = out.split(" ", 1)
    assert int(count) >= 25  # every message and value type, both channels
    assert missing == "[]"


@pytest.mark.timeout(120)
def test_the_hub_builds_every_validator_before_it_serves(tmp_path: Path) -> None:
    """The first alarm must not pay for building AlarmNotify's or RaiseAlarm's validator."""
    missing = in_started_hub(
        tmp_path,
        "[m.__name__ for m in protocol.models() if not m.__pydantic_complete__]"
        " + [n for n, a in protocol.CHANNELS.items() if not a.pydantic_complete]",
        imports="from shared import protocol",
    )
    assert missing == "[]"
