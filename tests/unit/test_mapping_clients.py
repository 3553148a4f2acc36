"""The CSV import's thin client rows (issue 19) as plain values: name, match, room and site.

The API tests (tests/api/test_mapping_csv_clients.py) run the same rules through a real
hub with one site; the room numbers two sites share are checked here.
"""

from __future__ import annotations

from dispatch.directory.mapping_clients import NewClient, Taken, client_name, match, new_client
from shared.domain import WorkstationRole

ROOMS = {(1, "1.02"): 12, (2, "1.02"): 22, (2, "2.01"): 23}


def test_a_room_number_two_sites_share_needs_the_site() -> None:
    assert new_client(2, "THIN-1", "1.02", None, None, ROOMS, {}) == (
        None,
        ["room '1.02' is at sites 1, 2: give site_id"],
    )
    assert new_client(2, "THIN-1", "1.02", 2, None, ROOMS, {}) == (
        NewClient(2, "THIN-1", 2, 22, "1.02", WorkstationRole.STAFF),
        [],
    )
    # A number only one site has needs none.
    made, problems = new_client(3, "THIN-2", "2.01", None, WorkstationRole.SECURITY, ROOMS, {})
    assert problems == []
    assert made is not None
    assert (made.site_id, made.room_id, made.role) == (2, 23, WorkstationRole.SECURITY)
    assert new_client(4, "THIN-3", "2.01", 1, None, ROOMS, {})[1] == [
        "unknown room '2.01' at site 1"
    ]


def test_a_new_name_twice_in_any_spelling_and_a_bad_name_are_refused() -> None:
    seen: dict[str, tuple[int, str]] = {}
    assert new_client(2, "THIN-1", "2.01", None, None, ROOMS, seen)[1] == []
    assert new_client(5, "thin-1", "2.01", None, None, ROOMS, seen)[1] == [
        "duplicate row: client THIN-1 is on line 2 too"
    ]
    assert new_client(6, "THIN_1.x-" + "y" * 55, "2.01", None, None, ROOMS, seen)[1] == []
    for bad in ("THIN 1", "-THIN", "T" * 65, "THIN-ä"):
        assert new_client(7, bad, "2.01", None, None, ROOMS, seen)[1] == [
            f"bad client name {bad!r}: letters, digits, '.', '_', '-' (at most 64)"
        ]


def test_a_client_is_matched_as_a_session_is() -> None:
    taken = {
        "thin-1": [Taken("THIN-1", 1)],
        "pc-twice": [Taken("pc-twice", 1), Taken("PC-TWICE", 1)],
    }
    assert match("thin-1", taken) == (Taken("THIN-1", 1), [])
    assert match("PC-TWICE", taken) == (Taken("PC-TWICE", 1), [])  # the exact spelling
    assert match("Pc-Twice", taken) == (
        None,
        ["client name 'Pc-Twice' matches several workstations (PC-TWICE, pc-twice): "
         "give the exact spelling"],
    )  # fmt: skip
    assert match("THIN-9", taken) == (None, [])
    assert client_name("THIN-1", "thin-1") == ("thin-1", [])
    assert client_name("THIN-1", "THIN-2")[1] == [
        "hostname 'THIN-1' and workstation_id 'THIN-2' differ: a client's name is both"
    ]
