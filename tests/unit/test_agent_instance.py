"""The single-instance socket name: per login and per data_dir, stable across calls."""

from __future__ import annotations

from pathlib import Path

from agent.instance import send_command, server_name


def test_server_name_is_per_user_and_per_data_dir(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert server_name(a, "erika") == server_name(a, "erika")
    assert server_name(a, "erika") != server_name(b, "erika")
    assert server_name(a, "erika") != server_name(a, "max")
    assert server_name(a / ".." / "a", "erika") == server_name(a, "erika")  # one folder, one name
    assert server_name(a, "DOMAIN\\erika m").startswith("silent-alarm-DOMAIN_erika_m-")


def test_no_running_agent_means_no_answer(tmp_path: Path) -> None:
    assert send_command(server_name(tmp_path / "nobody"), {"command": "status"}, 1.0) is None
