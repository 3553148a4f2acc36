"""/readyz tells a load balancer the truth: 503 with the reason while the database is gone, at
another schema or the bus is down; /healthz stays 200 while the process runs (issue 18)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx

from dispatch.store.migrate import head_revision, known_revisions
from tests.support.hub import RunningHub, start_demo_hub
from tests.support.pgserver import throwaway_cluster
from tests.support.waiting import wait_until


def readiness(hub: RunningHub) -> tuple[int, dict[str, Any]]:
    response = httpx.get(f"{hub.url}/readyz", timeout=10)
    return response.status_code, response.json()


def problem_codes(body: dict[str, Any]) -> set[str]:
    return {p["problem"] for p in body["problems"]}


def not_ready_for(hub: RunningHub, codes: set[str]) -> tuple[int, dict[str, Any]] | None:
    """/readyz's answer once it is 503 naming at least ``codes``; None before."""
    status, body = readiness(hub)
    return (status, body) if status == 503 and codes <= problem_codes(body) else None


def alive(hub: RunningHub) -> bool:
    return httpx.get(f"{hub.url}/healthz", timeout=10).status_code == 200


def test_a_hub_whose_postgresql_server_stops_is_not_ready_until_it_is_back(
    tmp_path: Path,
) -> None:
    with throwaway_cluster() as cluster:
        hub = start_demo_hub(tmp_path / "hub", env={"SILENT_ALARM_DATABASE_URL": cluster.url})
        try:
            status, body = readiness(hub)
            assert (status, body["status"], body["problems"]) == (200, "ready", [])

            cluster.stop()  # as when the database server goes down under the hub
            status, body = wait_until(
                lambda: not_ready_for(hub, {"database", "bus"}),
                timeout=15,
                what="/readyz 503 naming the database and the bus",
            )
            assert body["status"] == "not_ready"
            assert body["problem"] == "database"  # the first problem, as monitors read it
            assert alive(hub)  # liveness: a restart would not bring the database back
            assert hub.process.poll() is None

            cluster.start()  # returns once PostgreSQL accepts connections again
            wait_until(lambda: readiness(hub)[0] == 200, timeout=30, what="/readyz 200 again")
            assert readiness(hub)[1]["problems"] == []
        finally:
            hub.stop()


def set_schema(hub: RunningHub, revision: str) -> None:
    """What a restore of another version's database under the running hub would leave."""
    with sqlite3.connect(hub.data_dir / "dispatch.sqlite3") as db:
        db.execute("UPDATE alembic_version SET version_num = ?", (revision,))


def test_a_database_at_another_schema_makes_the_hub_not_ready(demo_hub: RunningHub) -> None:
    status, body = readiness(demo_hub)
    assert (status, body["status"], body["problems"]) == (200, "ready", [])
    older = sorted(known_revisions() - {head_revision()})[-1]
    for found in (older, "9999"):  # an older and a newer schema than this version's
        set_schema(demo_hub, found)
        status, body = readiness(demo_hub)
        assert (status, body["status"], problem_codes(body)) == (503, "not_ready", {"schema"})
        assert (
            body["reason"] == f"the database is at schema {found}, this hub needs {head_revision()}"
        )
        assert alive(demo_hub)
    set_schema(demo_hub, head_revision())
    assert readiness(demo_hub)[0] == 200


def test_a_hub_started_on_a_newer_schema_serves_not_ready(demo_hub: RunningHub) -> None:
    """A newer version's database (restored, or the upgrade rolled back): the hub cannot
    migrate it down, says so on /readyz instead of exiting into a restart loop, and
    `migrate` refuses with one line."""
    demo_hub.stop()
    set_schema(demo_hub, "9999")
    migrated = demo_hub.cli("migrate")
    assert migrated.returncode == 2
    assert migrated.stderr.count("\n") == 1
    assert "cannot migrate database" in migrated.stderr
    restarted = start_demo_hub(demo_hub.data_dir)  # returns once /healthz answers
    try:
        status, body = readiness(restarted)
        assert (status, problem_codes(body)) == (503, {"schema"})
        assert body["reason"] == f"the database is at schema 9999, this hub needs {head_revision()}"
        assert "migrations_not_run" in restarted.log()
    finally:
        restarted.stop()
