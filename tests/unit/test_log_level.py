"""The LOG_LEVEL setting: read in any case, refused when unknown, applied to the JSON lines."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from pydantic import ValidationError

from dispatch import logs
from dispatch.settings import Settings


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """logs.configure changes process-wide state: put it back for the other tests."""
    root = logging.getLogger()
    handlers, level, config = root.handlers[:], root.level, structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)


def test_the_level_is_read_in_any_case_and_an_unknown_one_refused() -> None:
    assert Settings().log_level == "info"
    assert Settings(log_level="WARNING").log_level == "warning"
    with pytest.raises(ValidationError, match="log_level"):
        Settings(log_level="loud")


@pytest.mark.usefixtures("restored_logging")
def test_lines_below_the_level_are_not_written(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(Settings(log_level="warning").log_level)
    log = structlog.get_logger("dispatch.test")
    log.info("agent_connected", workstation="pc-1")
    log.warning("alarm_nobody_reached", alarm_id="a")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["event"], line["level"]) for line in lines] == [
        ("alarm_nobody_reached", "warning")
    ]


@pytest.mark.usefixtures("restored_logging")
def test_debug_lets_every_line_through(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("debug")
    structlog.get_logger("dispatch.test").debug("detail", n=1)
    assert json.loads(capsys.readouterr().out)["event"] == "detail"
