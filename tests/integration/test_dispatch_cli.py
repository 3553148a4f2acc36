"""The hub's command line refuses unsafe settings and bad input: one line on stderr and a
non-zero exit, nothing stored."""

from __future__ import annotations

from pathlib import Path

from tests.support.commands import dispatch_cli


def test_serve_without_secret_exits_2_with_one_line(tmp_path: Path) -> None:
    result = dispatch_cli("serve", env={"SILENT_ALARM_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "SILENT_ALARM_SESSION_SECRET" in result.stderr


def test_bad_setting_exits_2_naming_it(tmp_path: Path) -> None:
    result = dispatch_cli("serve", env={"SILENT_ALARM_HEARTBEAT_INTERVAL": "-1"})
    assert result.returncode == 2
    assert "heartbeat_interval" in result.stderr


def test_operator_add_refuses_a_short_password(tmp_path: Path) -> None:
    result = dispatch_cli(
        "operator",
        "add",
        "anna",
        "--role",
        "guard",
        "--name",
        "Anna",
        stdin="short\n",
        env={"SILENT_ALARM_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode == 2
    assert "12 characters" in result.stderr


def test_workstation_add_for_unknown_room_exits_2_and_stores_nothing(tmp_path: Path) -> None:
    env = {"SILENT_ALARM_DATA_DIR": str(tmp_path)}
    assert dispatch_cli("migrate", env=env).returncode == 0
    result = dispatch_cli("workstation", "add", "pc-x", "--room", "9.99", env=env)
    assert result.returncode == 2
    assert "9.99" in result.stderr
    assert result.stdout == ""  # no token printed for a workstation that was not stored


def test_the_hub_refuses_a_postgres_bus_on_sqlite(tmp_path: Path) -> None:
    env = {
        "SILENT_ALARM_BUS": "postgres",
        "SILENT_ALARM_DATA_DIR": str(tmp_path),
        "SILENT_ALARM_SESSION_SECRET": "x" * 40,
        "SILENT_ALARM_PORT": "0",
    }
    result = dispatch_cli("serve", env=env)  # no SILENT_ALARM_DATABASE_URL: SQLite
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("silent-alarm-dispatch: SILENT_ALARM_BUS=postgres needs a PostgreSQL")
