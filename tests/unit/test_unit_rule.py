"""The unit layer's guard refuses a process, a server, PostgreSQL and X, naming the rule."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess

import asyncpg  # type: ignore[import-untyped]  # ships no type hints
import pytest

from tests.support.unitrule import LayerRuleBroken, UnitRule


def test_a_process_is_refused(unit_rule: UnitRule) -> None:
    with pytest.raises(LayerRuleBroken, match=r"started a process .*tests/unit holds tests that"):
        subprocess.run(["true"], check=False)
    unit_rule.breaches.clear()


async def test_an_asyncio_subprocess_is_refused(unit_rule: UnitRule) -> None:
    with pytest.raises(LayerRuleBroken, match="started a process"):
        await asyncio.create_subprocess_exec("true")
    unit_rule.breaches.clear()


def test_a_listening_socket_is_refused(unit_rule: UnitRule) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        with pytest.raises(LayerRuleBroken, match="served a network port"):
            server.listen()
    unit_rule.breaches.clear()


async def test_postgres_is_refused(unit_rule: UnitRule) -> None:
    with socket.socket() as client, pytest.raises(LayerRuleBroken, match="PostgreSQL"):
        client.connect(("127.0.0.1", 5432))
    with pytest.raises(LayerRuleBroken, match="PostgreSQL"):
        await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    unit_rule.breaches.clear()


def test_no_display_is_seen() -> None:
    assert "DISPLAY" not in os.environ
    assert os.environ["QT_QPA_PLATFORM"] == "offscreen"


def test_a_breach_the_code_under_test_swallowed_still_fails(unit_rule: UnitRule) -> None:
    with contextlib.suppress(Exception):  # as a retrying agent loop would
        subprocess.run(["true"], check=False)
    with pytest.raises(pytest.fail.Exception, match="started a process"):
        unit_rule.verdict()
    unit_rule.breaches.clear()
