"""CSV export and import of the room mapping: all rows or none, every error listed."""

from __future__ import annotations

import httpx

from tests.api.conftest import audit_count
from tests.support.hub import RunningHub, query
from tests.support.operators import API

BAD = (
    "hostname,room_number,role\n"  # line 1
    "pc-1-01,1.03,staff\n"  # line 2: fine
    "pc-1-02,9.99,staff\n"  # line 3: unknown room
    "pc-gibts-nicht,1.01,\n"  # line 4: unknown workstation
    "pc-1-01,1.04,staff\n"  # line 5: duplicate of line 2
    "pc-1-03,1.02,chef\n"  # line 6: bad role
    "pc-1-04\n"  # line 7: missing column
)


def rooms_of(hub: RunningHub) -> dict[str, object]:
    return dict(query(hub, "SELECT id, room_id FROM workstations"))  # type: ignore[arg-type]


def test_export_lists_every_workstation(guard: httpx.Client) -> None:
    response = guard.get(f"{API}/workstations.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    lines = response.text.splitlines()
    assert lines[0] == "hostname,workstation_id,room_number,role,state"
    assert ",pc-1-02,1.02,staff,active" in lines
    assert ",pc-e-01,E.01,security,active" in lines
    assert len(lines) == 7


def test_every_bad_row_is_reported_and_nothing_imported(
    admin_hub: RunningHub, admin: httpx.Client
) -> None:
    before, audit_before = rooms_of(admin_hub), audit_count(admin_hub)
    for dry_run in ("true", "false"):
        response = admin.post(
            f"{API}/workstations/import",
            params={"dry_run": dry_run},
            content=BAD.encode(),
            headers={"Content-Type": "text/csv"},
        )
        assert response.status_code == 422, response.text
        body = response.json()
        assert "nothing was imported" in body["detail"]
        assert body["errors"] == [
            {"line": 3, "reason": "unknown room '9.99' at site 1"},
            {"line": 4, "reason": "unknown workstation 'pc-gibts-nicht'"},
            {"line": 5, "reason": "duplicate row: workstation pc-1-01 is on line 2 too"},
            {"line": 6, "reason": "bad role 'chef' (staff or security)"},
            {"line": 7, "reason": "missing column room_number, role"},
        ]
    assert rooms_of(admin_hub) == before
    assert audit_count(admin_hub) == audit_before


def test_file_level_problems(admin: httpx.Client) -> None:
    cases = {
        b"": "empty file",
        b"hostname,role\npc-1-01,staff\n": "missing column room_number",
        b"hostname,room_number,raum\npc-1-01,1.01,x\n": "unknown column 'raum'",
        "hostname,room_number\npc-1-01,1.01\npc-1-02,B\xfcro\n".encode("latin-1"): "not UTF-8",
    }
    for data, reason in cases.items():
        response = admin.post(
            f"{API}/workstations/import", files={"file": ("map.csv", data, "text/csv")}
        )
        assert response.status_code == 422, response.text
        assert reason in response.json()["errors"][0]["reason"]
    latin = response.json()["errors"][0]
    assert latin["line"] == 3


def test_dry_run_reports_then_the_import_applies_in_one_go(
    admin_hub: RunningHub, admin: httpx.Client
) -> None:
    # Excel in Germany writes semicolons and a BOM; both are understood.
    good = "\ufeffhostname;room_number;role\npc-1-01;1.03;\npc-1-02;1.02;security\n"
    before, audit_before = rooms_of(admin_hub), audit_count(admin_hub)
    dry = admin.post(
        f"{API}/workstations/import",
        params={"dry_run": "true"},
        files={"file": ("map.csv", good.encode(), "text/csv")},
    )
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert (report["dry_run"], report["imported"], report["rows"]) == (True, False, 2)
    assert report["changed"] == [
        {
            "line": 2,
            "workstation_id": "pc-1-01",
            "hostname": "",
            "changes": {"room_number": ["1.01", "1.03"]},
        },
        {
            "line": 3,
            "workstation_id": "pc-1-02",
            "hostname": "",
            "changes": {"role": ["staff", "security"]},
        },
    ]
    assert rooms_of(admin_hub) == before
    assert audit_count(admin_hub) == audit_before

    real = admin.post(
        f"{API}/workstations/import",
        content=good.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert real.status_code == 200, real.text
    assert real.json()["imported"] is True
    assert real.json()["changed"] == report["changed"]
    assert admin.get(f"{API}/workstations/pc-1-01").json()["room_number"] == "1.03"
    assert admin.get(f"{API}/workstations/pc-1-02").json()["role"] == "security"
    actions = [r[0] for r in query(admin_hub, "SELECT action FROM audit_events")]
    assert actions[-3:] == ["workstation_changed", "workstation_changed", "mapping_imported"]

    # The export, edited, imports again (state is ignored); unchanged rows are counted.
    exported = admin.get(f"{API}/workstations.csv").text
    again = admin.post(
        f"{API}/workstations/import", content=exported, headers={"Content-Type": "text/csv"}
    )
    assert again.status_code == 200, again.text
    assert (again.json()["changed"], again.json()["unchanged"]) == ([], 6)


def test_cli_mapping_import_and_export(admin_hub: RunningHub, tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    bad = folder / "bad.csv"
    bad.write_text(BAD, encoding="utf-8")
    result = admin_hub.cli("mapping", "import", str(bad), "--dry-run")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "silent-alarm-dispatch: import refused: 5 problem(s); nothing was imported"
    ]
    assert "line 3: unknown room '9.99' at site 1" in result.stdout

    good = folder / "good.csv"
    good.write_text("hostname,room_number\npc-1-05,1.04\n", encoding="utf-8")
    dry = admin_hub.cli("mapping", "import", str(good), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "pc-1-05: room_number 1.05 -> 1.04" in dry.stdout
    assert "1.05" in admin_hub.cli("mapping", "export").stdout.split("pc-1-05,")[1]
    real = admin_hub.cli("mapping", "import", str(good))
    assert real.returncode == 0, real.stderr
    assert ",pc-1-05,1.04,staff,active" in admin_hub.cli("mapping", "export").stdout
