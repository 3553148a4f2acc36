"""The hub hands the GIL to a database thread after 1 ms, not CPython's 5 ms."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatch import switch_interval
from tests.unit.test_protocol_build import run_python


@pytest.fixture
def restored_interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


def test_the_switch_interval_is_one_millisecond(restored_interval: None) -> None:
    sys.setswitchinterval(0.005)
    switch_interval.configure()
    assert sys.getswitchinterval() == pytest.approx(0.001)


@pytest.mark.timeout(120)
def test_the_hub_sets_it_when_it_starts(tmp_path: Path) -> None:
    out = run_python(
        f"""
        import asyncio, sys
        from pathlib import Path
        from dispatch.app import create_app
        from dispatch.migrate import upgrade
        from dispatch.settings import Settings

        settings = Settings(session_secret="x" * 40, data_dir=Path({str(tmp_path)!r}))
        upgrade(settings.resolved_database_url)
        app = create_app(settings)

        async def started() -> float:
            async with app.router.lifespan_context(app):
                return sys.getswitchinterval()

        print("interval:", asyncio.run(started()))
        """,
        cwd=tmp_path,
    )
    (result,) = [line for line in out.splitlines() if line.startswith("interval:")]
    assert result == "interval: 0.001"
