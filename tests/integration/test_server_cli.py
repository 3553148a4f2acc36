"""The admin's CLI on a server reads the service's settings file, says which database it
acts on and what it did, and answers every mistake with one line and exit code 2.

Before: from a fresh folder `operator add` ended in a 744-line traceback, and after a
`migrate` there it "succeeded" into ./var while the service's database had no operator.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.support.commands import dispatch_cli
from tests.support.hub import start_demo_hub
from tests.support.operators import api_client

PASSWORD = "a-long-enough-password-1"


def settings_file(tmp_path: Path, data_dir: Path) -> Path:
    path = tmp_path / "etc" / "dispatch.env"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# as /etc/silent-alarm/dispatch.env\n"
        f"SILENT_ALARM_DATA_DIR={data_dir}\n"
        f"SILENT_ALARM_SESSION_SECRET={'s' * 48}\n",
        encoding="utf-8",
    )
    return path


def one_line(stderr: str) -> str:
    line = stderr.strip()
    assert line, "nothing on stderr"
    assert "\n" not in line, stderr
    assert "Traceback" not in line
    return line


def test_the_cli_acts_on_the_database_its_settings_file_names_from_any_folder(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "var-lib"
    config = settings_file(tmp_path, data_dir)
    elsewhere = tmp_path / "home-of-the-admin"
    elsewhere.mkdir()
    database = data_dir / "dispatch.sqlite3"

    early = dispatch_cli(
        "--config", str(config), "operator", "add", "alice", "--role", "guard", "--name", "A",
        stdin=PASSWORD + "\n", cwd=elsewhere,
    )  # fmt: skip
    assert early.returncode == 2
    assert f"no database at {database}" in one_line(early.stderr)
    assert "migrate" in early.stderr
    assert not database.exists()  # not created empty by the failed command

    migrated = dispatch_cli("--config", str(config), "migrate", cwd=elsewhere)
    assert migrated.returncode == 0, migrated.stderr
    assert f"database {database} is at schema" in migrated.stdout

    added = dispatch_cli(
        "--config", str(config), "operator", "add", "alice", "--role", "guard", "--name", "A",
        stdin=PASSWORD + "\n", cwd=elsewhere,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == f"operator alice (guard) created (database {database})"
    assert not (elsewhere / "var").exists()  # nothing landed in the current folder

    again = dispatch_cli(
        "--config", str(config), "operator", "add", "alice", "--role", "guard", "--name", "A",
        stdin=PASSWORD + "\n", cwd=elsewhere,
    )  # fmt: skip
    assert again.returncode == 2
    assert one_line(again.stderr).endswith(f"(database {database})")
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM operators").fetchone() == (1,)

    # The hub serving that folder (as the service does) has the operator the CLI made.
    hub = start_demo_hub(data_dir)
    try:
        with api_client(hub, "alice", PASSWORD) as client:
            assert client.get("/api/v1/session").json()["username"] == "alice"
    finally:
        hub.stop()


def test_the_settings_file_can_come_from_the_environment(tmp_path: Path) -> None:
    config = settings_file(tmp_path, tmp_path / "data")
    result = dispatch_cli("migrate", env={"SILENT_ALARM_CONFIG": str(config)}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert str(tmp_path / "data" / "dispatch.sqlite3") in result.stdout


def test_environment_variables_override_the_settings_file(tmp_path: Path) -> None:
    config = settings_file(tmp_path, tmp_path / "from-file")
    other = tmp_path / "from-env"
    result = dispatch_cli(
        "--config", str(config), "migrate", env={"SILENT_ALARM_DATA_DIR": str(other)}
    )
    assert result.returncode == 0, result.stderr
    assert str(other / "dispatch.sqlite3") in result.stdout


def test_mistakes_in_the_settings_are_one_line_each(tmp_path: Path) -> None:
    missing = dispatch_cli("--config", str(tmp_path / "nope.env"), "migrate")
    assert missing.returncode == 2
    assert "cannot read settings file" in one_line(missing.stderr)

    typo = tmp_path / "typo.env"
    typo.write_text(f"SILENT_ALARM_DATA_DIR={tmp_path}\nSILENT_ALARM_PROT=8000\n", "utf-8")
    result = dispatch_cli("--config", str(typo), "migrate")
    assert result.returncode == 2
    assert f"unknown setting SILENT_ALARM_PROT in {typo}" in one_line(result.stderr)

    no_data = tmp_path / "no-data.env"
    no_data.write_text("SILENT_ALARM_PORT=8000\n", "utf-8")
    result = dispatch_cli("--config", str(no_data), "migrate", cwd=tmp_path)
    assert result.returncode == 2
    assert "sets neither SILENT_ALARM_DATA_DIR nor DATABASE_URL" in one_line(result.stderr)
    assert not (tmp_path / "var").exists()


def test_an_unreachable_database_is_one_line_without_its_password(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://alarm:hunter2-secret@127.0.0.1:1/silent_alarm"
    result = dispatch_cli(
        "operator", "add", "bob", "--role", "guard", "--name", "B",
        stdin=PASSWORD + "\n", env={"SILENT_ALARM_DATABASE_URL": url},
    )  # fmt: skip
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert "cannot open database postgresql+asyncpg://alarm:***@127.0.0.1:1/silent_alarm" in line
    assert "hunter2" not in result.stderr + result.stdout


def test_a_database_behind_this_version_asks_for_migrate(tmp_path: Path) -> None:
    config = settings_file(tmp_path, tmp_path / "data")
    database = tmp_path / "data" / "dispatch.sqlite3"
    database.parent.mkdir()
    sqlite3.connect(database).close()  # a file, but no schema (as after a failed copy)
    result = dispatch_cli("--config", str(config), "mapping", "export")
    assert result.returncode == 2
    assert "is at schema none, this version needs" in one_line(result.stderr)


def test_help_names_the_settings_it_reads() -> None:
    result = dispatch_cli("--help")
    assert result.returncode == 0
    assert "--config" in result.stdout
    assert "/etc/silent-alarm/dispatch.env" in result.stdout
    assert "SILENT_ALARM_" in result.stdout
