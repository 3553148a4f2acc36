"""Checks that need a Python of their own: what a fresh interpreter, or a hub app just
started in one, has done (in the test's own interpreter other tests have done it already)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support.commands import command_env


def run_python(code: str, cwd: Path | None = None) -> str:
    """What ``code`` printed; the interpreter has no display and none of the project's
    settings from the test's environment, and must exit 0."""
    env = {k: v for k, v in command_env().items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def in_started_hub(data_dir: Path, expression: str, imports: str = "") -> str:
    """``repr`` of ``expression``, evaluated while a hub app's lifespan runs (after its start)."""
    out = run_python(
        f"""
        import asyncio
        from pathlib import Path
        from dispatch.app import create_app
        from dispatch.store.migrate import upgrade
        from dispatch.settings import Settings
        {imports}

        settings = Settings(session_secret="x" * 40, data_dir=Path({str(data_dir)!r}))
        upgrade(settings.resolved_database_url)
        app = create_app(settings)

        async def started() -> object:
            async with app.router.lifespan_context(app):
                return {expression}

        print("result:", repr(asyncio.run(started())))
        """,
        cwd=data_dir,
    )
    # The hub's own log lines (a gc_pause, say) may come before or after the result.
    (result,) = [line for line in out.splitlines() if line.startswith("result: ")]
    return result.removeprefix("result: ")
