"""Operators and PCs from a real OpenLDAP (Debian's slapd over ldaps:// with a private CA),
against a real hub: directory logins, rights from groups, sessions ended when an account
is disabled or leaves its groups (REST and an open console in Chromium), the directory
down, and the PC→room sync from computer objects.

One slapd and one hub for the module; each test uses people of its own, so the order of
the tests does not matter. The hub counts failed logins per address (20 in 5 minutes):
the module stays below that.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from dispatch import demo
from dispatch.directory.authentication import Authenticator
from dispatch.directory.directory_watch import DirectoryWatch
from dispatch.directory.ldap_directory import DirectoryUnavailable, LdapDirectory
from dispatch.directory.sessions import still_valid
from dispatch.settings import Settings
from dispatch.store import audit_key
from dispatch.store.database import Database
from dispatch.store.migrate import upgrade
from shared.domain import OperatorRole
from tests.support.browser import log_in_as
from tests.support.commands import dispatch_cli
from tests.support.hub import RunningHub, free_port, query, start_demo_hub
from tests.support.login import login_form
from tests.support.operators import API, api_client
from tests.support.slapd import (
    PEOPLE,
    SERVICE_PASSWORD,
    Computer,
    Person,
    RunningSlapd,
    computer,
    hub_env,
    start_slapd,
)
from tests.support.tls import make_tls
from tests.support.waiting import wait_until

FAILED = "Anmeldung fehlgeschlagen"
UNAVAILABLE = "Verzeichnisdienst"

PEOPLE_OF_THE_OFFICE = [
    Person("anna", "Anna Auer", "anna-verzeichnis-1", ("wache", "standort-1")),
    Person("bernd", "Bernd Berger", "bernd-verzeichnis-2", ("wache", "admins", "alle-standorte")),
    Person("carla", "Carla Conrad", "carla-verzeichnis-3", ("notfall", "standort-1")),
    Person("dora", "Dora Dietz", "dora-verzeichnis-4", ("wache", "standort-1")),
    Person("emil", "Emil Ernst", "emil-verzeichnis-5", ("kantine",)),
    Person("frieda", "Frieda Fink", "frieda-verzeichnis-6", ("wache", "standort-1")),
    Person("gustav", "Gustav Graf", "gustav-verzeichnis-7", ("wache", "standort-1")),
    Person("hanna", "Hanna Horn", "hanna-verzeichnis-9", ("wache", "standort-1")),
    Person("ida", "Ida Imhof", "ida-verzeichnis-10", ("wache", "standort-1")),
    Person("jana", "Jana Jung", "jana-verzeichnis-11", ("wache", "standort-1")),
    Person("kurt", "Kurt Kahl", "kurt-verzeichnis-12", ("notfall", "alle-standorte")),
    # The demo's local guard has a namesake in the directory: the local account wins.
    Person("wache", "Wache Verzeichnis", "wache-verzeichnis-8", ("admins", "alle-standorte")),
]
PCS = [
    Computer("pc-1-01", "1.03"),  # demo: in 1.01
    Computer("pc-1-02", "1.02"),  # unchanged
    Computer("pc-1-03", "9.99"),  # no such room: refuses the sync until corrected
    Computer("drucker-3", None),  # no room attribute
    Computer("pc-nie-eingerichtet", "1.04"),  # never enrolled
]


def directory_env(slapd: RunningSlapd, check_interval: float = 1.0) -> dict[str, str]:
    return hub_env(
        slapd,
        roles={"wache": "guard", "notfall": "emergency_manager", "admins": "admin"},
        sites={"standort-1": [1], "alle-standorte": []},
        check_interval=check_interval,
    )


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSlapd]:
    server = start_slapd(tmp_path_factory.mktemp("slapd"), PEOPLE_OF_THE_OFFICE, PCS)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, slapd: RunningSlapd) -> Iterator[RunningHub]:
    running = start_demo_hub(
        tmp_path_factory.mktemp("hub"),
        env={"SILENT_ALARM_HEARTBEAT_INTERVAL": "1", **directory_env(slapd)},
    )
    yield running
    running.stop()


@pytest.fixture
def directory_up(slapd: RunningSlapd) -> RunningSlapd:
    """The directory answering (a test before may have stopped it)."""
    if slapd.process.poll() is not None:
        slapd.restart()
    return slapd


def attempt(hub: RunningHub, username: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=hub.url, follow_redirects=False, timeout=15) as client:
        return login_form(client, username, password)


def error_of(response: httpx.Response) -> str:
    found = re.search(r'data-testid="login-error">([^<]*)<', response.text)
    assert found, response.text
    return found.group(1)


def operator_row(hub: RunningHub, username: str) -> tuple[object, ...] | None:
    rows = query(
        hub,
        "SELECT id, role, source, display_name, failed_logins, locked_until "
        "FROM operators WHERE username = ?",
        username,
    )
    return rows[0] if rows else None


def sites(hub: RunningHub, username: str) -> list[object]:
    return [
        site
        for (site,) in query(
            hub,
            "SELECT site_id FROM operator_sites JOIN operators ON operators.id = operator_id "
            "WHERE username = ? ORDER BY site_id",
            username,
        )
    ]


def audit_actions(hub: RunningHub, actor: str) -> list[str]:
    return [
        str(action)
        for (action,) in query(
            hub, "SELECT action FROM audit_events WHERE actor = ? ORDER BY id", actor
        )
    ]


def audit_of(hub: RunningHub, action: str) -> list[dict[str, object]]:
    return [
        json.loads(str(detail))
        for (detail,) in query(
            hub, "SELECT detail FROM audit_events WHERE action = ? ORDER BY id", action
        )
    ]


# --- logging in ---------------------------------------------------------------------------


def test_a_directory_account_logs_in_with_its_directory_password(
    hub: RunningHub, directory_up: RunningSlapd
) -> None:
    with api_client(hub, "anna", directory_up.password("anna")) as anna:
        me = anna.get(f"{API}/session").json()
    assert me["username"] == "anna"
    assert me["display_name"] == "Anna Auer"
    assert me["role"] == "guard"
    assert operator_row(hub, "anna") is not None
    assert operator_row(hub, "anna")[2] == "directory"  # type: ignore[index]
    assert sites(hub, "anna") == [1]
    assert audit_actions(hub, "operator:anna")[-1] == "login_succeeded"
    assert audit_of(hub, "operator_created")[-1]["source"] == "directory"


def test_the_highest_role_and_every_site_from_several_groups(
    hub: RunningHub, directory_up: RunningSlapd
) -> None:
    with api_client(hub, "bernd", directory_up.password("bernd")) as bernd:
        assert bernd.get(f"{API}/session").json()["role"] == "admin"
        listed = {o["username"]: o for o in bernd.get(f"{API}/operators").json()}
    assert listed["bernd"]["site_ids"] == []  # "alle-standorte": every site
    assert listed["bernd"]["source"] == "directory"
    assert listed["wache"]["source"] == "local"
    with api_client(hub, "carla", directory_up.password("carla")) as carla:
        assert carla.get(f"{API}/session").json()["role"] == "emergency_manager"


def test_a_wrong_password_or_no_mapped_group_is_refused_alike(
    hub: RunningHub, directory_up: RunningSlapd
) -> None:
    wrong = attempt(hub, "gustav", "falsches-passwort-1")
    unmapped = attempt(hub, "emil", directory_up.password("emil"))
    unknown = attempt(hub, "niemand-hier", "irgendein-passwort")
    for response in (wrong, unmapped, unknown):
        assert response.status_code == 401
        assert FAILED in error_of(response)
    assert error_of(wrong) == error_of(unmapped) == error_of(unknown)
    assert operator_row(hub, "emil") is None  # no row for an account no group maps
    assert operator_row(hub, "gustav") is not None  # the lock counts from the first attempt
    assert operator_row(hub, "gustav")[4] == 1  # type: ignore[index]


def test_an_empty_password_never_logs_in(hub: RunningHub, directory_up: RunningSlapd) -> None:
    # An LDAP simple bind with a DN and no password is an anonymous bind that "succeeds".
    assert attempt(hub, "gustav", "").status_code == 401


@pytest.mark.parametrize("login", ["*)(uid=*", "ann*", "anna)(uid=*", "*", "anna)(|(uid=*"])
def test_ldap_injection_in_the_login_name_finds_nobody(
    hub: RunningHub, directory_up: RunningSlapd, login: str
) -> None:
    # Unescaped, "ann*" and "anna)(uid=*" would find exactly Anna, and her password would
    # log the attacker in as her.
    response = attempt(hub, login, directory_up.password("anna"))
    assert response.status_code == 401
    assert FAILED in error_of(response)


def test_a_local_account_wins_over_its_namesake_in_the_directory(
    hub: RunningHub, directory_up: RunningSlapd
) -> None:
    refused = attempt(hub, "wache", directory_up.password("wache"))
    assert refused.status_code == 401
    assert attempt(hub, "wache", hub.login.password).status_code == 303
    assert operator_row(hub, "wache")[1:3] == ("guard", "local")  # type: ignore[index]


def test_five_wrong_directory_passwords_lock_the_operator(
    hub: RunningHub, directory_up: RunningSlapd
) -> None:
    for n in range(5):
        assert attempt(hub, "frieda", f"falsch-{n}-passwort").status_code == 401
    assert operator_row(hub, "frieda")[5] is not None  # type: ignore[index]
    locked = attempt(hub, "frieda", directory_up.password("frieda"))
    assert locked.status_code == 401
    assert "login_locked" in audit_actions(hub, "operator:frieda")
    assert audit_actions(hub, "operator:frieda")[-1] == "login_refused_locked"


def test_the_admin_api_refuses_to_change_what_the_directory_decides(
    hub: RunningHub, directory_up: RunningSlapd
) -> None:
    assert attempt(hub, "anna", directory_up.password("anna")).status_code == 303
    with api_client(hub, "bernd", directory_up.password("bernd")) as bernd:
        operators = {o["username"]: o["id"] for o in bernd.get(f"{API}/operators").json()}
        anna = operators["anna"]
        changes: list[dict[str, object]] = [
            {"role": "admin"},
            {"site_ids": []},
            {"password": "x" * 20},
            {"display_name": "A."},
        ]
        for change in changes:
            answer = bernd.patch(f"{API}/operators/{anna}", json=change)
            assert answer.status_code == 409, answer.text
            assert "directory" in answer.json()["detail"]
        # What the hub decides stays possible: the same values, and unlocking.
        same = {"role": "guard", "site_ids": [1], "display_name": "Anna Auer", "unlock": True}
        assert bernd.patch(f"{API}/operators/{anna}", json=same).is_success
    assert operator_row(hub, "anna")[1:4] == ("guard", "directory", "Anna Auer")  # type: ignore[index]
    assert sites(hub, "anna") == [1]


# --- sessions end when the directory says so ----------------------------------------------


def test_a_disabled_account_loses_its_live_session(
    hub: RunningHub, directory_up: RunningSlapd
) -> None:
    with api_client(hub, "carla", directory_up.password("carla")) as carla:
        assert carla.get(f"{API}/session").status_code == 200
        directory_up.lock("carla")
        # The check runs every second in this hub; its round ends the session at once.
        wait_until(
            lambda: carla.get(f"{API}/session").status_code == 401,
            timeout=15,
            interval=0.2,
            what="carla's session ended",
        )
    ended = audit_of(hub, "directory_sessions_ended")
    assert {"username": "carla", "reason": "directory_disabled"}.items() <= ended[-1].items()
    again = attempt(hub, "carla", directory_up.password("carla"))
    assert again.status_code == 401
    assert audit_actions(hub, "operator:carla")[-1] == "login_refused_directory_disabled"


def test_a_deleted_account_loses_its_live_session(
    hub: RunningHub, directory_up: RunningSlapd
) -> None:
    with api_client(hub, "ida", directory_up.password("ida")) as ida:
        directory_up.remove("ida")
        wait_until(
            lambda: ida.get(f"{API}/session").status_code == 401,
            timeout=15,
            interval=0.2,
            what="ida's session ended",
        )
    ended = [e for e in audit_of(hub, "directory_sessions_ended") if e["username"] == "ida"]
    assert [e["reason"] for e in ended] == ["directory_account_gone"]  # audited once


def test_new_groups_change_the_rights_and_end_the_old_session(
    hub: RunningHub, directory_up: RunningSlapd
) -> None:
    with api_client(hub, "hanna", directory_up.password("hanna")) as hanna:
        assert hanna.get(f"{API}/session").json()["role"] == "guard"
        directory_up.join("hanna", "notfall")
        directory_up.join("hanna", "alle-standorte")
        wait_until(
            lambda: hanna.get(f"{API}/session").status_code == 401,
            timeout=15,
            interval=0.2,
            what="hanna's session ended by the check",
        )
    assert operator_row(hub, "hanna")[1] == "emergency_manager"  # type: ignore[index]
    changed = [e for e in audit_of(hub, "operator_changed") if e["username"] == "hanna"]
    assert changed[-1]["source"] == "directory"
    with api_client(hub, "hanna", directory_up.password("hanna")) as hanna:
        assert hanna.get(f"{API}/session").json()["role"] == "emergency_manager"
    # The check may have run between the two changes; the login reads both.
    assert sites(hub, "hanna") == []  # every site now


def test_leaving_the_groups_closes_an_open_console(
    hub: RunningHub, directory_up: RunningSlapd, page: Page
) -> None:
    log_in_as(page, hub, "dora", directory_up.password("dora"))
    expect(page.get_by_test_id("connection")).to_have_attribute("data-status", "open")
    directory_up.leave("dora", "wache")
    # A check round (1 s) ends the session, a supervision round (0.5 s) closes the console.
    expect(page).to_have_url(f"{hub.url}/login", timeout=15_000)
    page.goto(f"{hub.url}/console")
    expect(page).to_have_url(f"{hub.url}/login")
    reasons = [e["reason"] for e in audit_of(hub, "directory_sessions_ended")]
    assert "directory_not_mapped" in reasons


def test_the_directory_down_keeps_sessions_and_refuses_new_directory_logins_clearly(
    hub: RunningHub, directory_up: RunningSlapd
) -> None:
    with api_client(hub, "anna", directory_up.password("anna")) as anna:
        directory_up.stop()
        # Two check rounds that could not reach the directory ...
        wait_until(
            lambda: hub.log().count('"during": "session_check"') >= 2,
            timeout=15,
            interval=0.2,
            what="two failed checks logged",
        )
        # ... end nobody's session.
        assert anna.get(f"{API}/session").status_code == 200
        refused = attempt(hub, "gustav", directory_up.password("gustav"))
        assert refused.status_code == 503
        assert UNAVAILABLE in error_of(refused)
        assert attempt(hub, "wache", hub.login.password).status_code == 303  # local works
    directory_up.restart()
    assert attempt(hub, "gustav", directory_up.password("gustav")).status_code == 303


# --- PCs and rooms from the directory -----------------------------------------------------


def sync(hub: RunningHub, slapd: RunningSlapd, *flags: str) -> tuple[int, str, str]:
    result = dispatch_cli(
        "directory",
        "sync",
        *flags,
        env={"SILENT_ALARM_DATA_DIR": str(hub.data_dir), **directory_env(slapd)},
    )
    return result.returncode, result.stdout, result.stderr


def room_of(hub: RunningHub, workstation_id: str) -> object:
    return query(
        hub,
        "SELECT rooms.number FROM workstations JOIN rooms ON rooms.id = room_id "
        "WHERE workstations.id = ?",
        workstation_id,
    )[0][0]


def test_the_sync_refuses_an_unknown_room_then_dry_runs_and_applies(
    hub: RunningHub, directory_up: RunningSlapd
) -> None:
    code, out, err = sync(hub, directory_up, "--dry-run")
    assert code == 2
    assert f"{computer('pc-1-03')}: unknown room '9.99' at site 1" in out
    assert "nothing was changed" in err
    assert room_of(hub, "pc-1-03") == "1.03"
    assert query(hub, "SELECT count(*) FROM rooms WHERE number = '9.99'")[0][0] == 0
    with api_client(hub, "bernd", directory_up.password("bernd")) as admin:
        refused = admin.post(f"{API}/workstations/directory-sync?dry_run=true")
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"] == [
            {"dn": computer("pc-1-03"), "reason": "unknown room '9.99' at site 1"}
        ]

    directory_up.set_room("pc-1-03", "1.03")
    code, out, err = sync(hub, directory_up, "--dry-run")
    assert code == 0, err
    assert f"{computer('pc-1-01')}: pc-1-01: room_number 1.01 -> 1.03" in out
    assert f"{computer('pc-nie-eingerichtet')}: not enrolled" in out
    assert f"{computer('drucker-3')}: no l, skipped" in out
    assert "would change 1, unchanged 2, not enrolled 1; 1 without a room" in out
    assert room_of(hub, "pc-1-01") == "1.01"  # a dry run changes nothing

    code, out, err = sync(hub, directory_up, "--apply")
    assert code == 0, err
    assert "changed 1, unchanged 2" in out
    assert room_of(hub, "pc-1-01") == "1.03"
    synced = audit_of(hub, "mapping_imported")[-1]
    assert synced["source"] == "directory_sync"
    changed = audit_of(hub, "workstation_changed")[-1]
    assert changed["source"] == "directory_sync"
    with api_client(hub, "bernd", directory_up.password("bernd")) as admin:
        again = admin.post(f"{API}/workstations/directory-sync?dry_run=true")
    assert again.status_code == 200, again.text
    assert {k: again.json()[k] for k in ("dry_run", "imported", "rows", "changed")} == {
        "dry_run": True,
        "imported": False,
        "rows": 4,
        "changed": [],
    }
    assert again.json()["unchanged"] == 3
    assert again.json()["not_enrolled"] == [
        {"dn": computer("pc-nie-eingerichtet"), "hostname": "pc-nie-eingerichtet"}
    ]
    assert again.json()["without_room"] == [computer("drucker-3")]


# --- the client itself, in this process ---------------------------------------------------


@pytest.fixture
def settings_for(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    """The hub's directory settings as its environment gives them, with ``changes``."""

    def make(slapd: RunningSlapd, **changes: object) -> Settings:
        for key, value in directory_env(slapd).items():
            monkeypatch.setenv(key, value)
        return Settings(**changes)  # type: ignore[arg-type]

    return make


def test_start_tls_on_a_plain_port_finds_and_checks_a_user(
    directory_up: RunningSlapd, settings_for: Callable[..., Settings]
) -> None:
    directory = LdapDirectory(
        settings_for(directory_up, ldap_url=directory_up.plain_url, ldap_start_tls=True)
    )
    anna = directory.find_user("anna")
    assert anna is not None
    assert anna.dn == f"uid=anna,{PEOPLE}"
    assert directory.password_matches(anna, directory_up.password("anna"))
    assert not directory.password_matches(anna, "falsch")


def test_a_directory_whose_certificate_is_not_trusted_is_never_used(
    directory_up: RunningSlapd, settings_for: Callable[..., Settings], tmp_path: Path
) -> None:
    other_ca = make_tls(tmp_path / "other").ca
    directory = LdapDirectory(settings_for(directory_up, ldap_ca_file=other_ca))
    with pytest.raises(DirectoryUnavailable):
        directory.find_user("anna")


# ldap3 checks the name after wrapping the socket and drops the wrapped socket unclosed when
# the check fails (its garbage collection closes it, with a ResourceWarning).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_certificate_for_another_name_is_never_used(
    directory_up: RunningSlapd, settings_for: Callable[..., Settings]
) -> None:
    # Signed by the trusted CA, but for 127.0.0.1 and localhost: a man in the middle with
    # any certificate of the office's CA is refused.
    directory = LdapDirectory(settings_for(directory_up, ldap_url=directory_up.misnamed_url))
    with pytest.raises(DirectoryUnavailable, match="doesn't match"):
        directory.find_user("anna")


def test_a_wrong_service_password_is_unavailable_not_unknown(
    directory_up: RunningSlapd, settings_for: Callable[..., Settings]
) -> None:
    directory = LdapDirectory(settings_for(directory_up, ldap_bind_password="falsch"))
    with pytest.raises(DirectoryUnavailable, match="service account refused"):
        directory.find_user("anna")


def test_no_password_reaches_the_log_or_the_audit_trail(
    hub: RunningHub, directory_up: RunningSlapd
) -> None:
    attempt(hub, "anna", directory_up.password("anna"))
    trail = "\n".join(repr(row) for row in query(hub, "SELECT * FROM audit_events"))
    log = hub.log()
    for secret in [SERVICE_PASSWORD, *(p.password for p in PEOPLE_OF_THE_OFFICE)]:
        assert secret not in log
        assert secret not in trail


def test_the_login_and_the_check_in_process(
    directory_up: RunningSlapd, settings_for: Callable[..., Settings], tmp_path: Path
) -> None:
    """The same paths as the hub's, in this process: the check ends a locked account's
    session once, and a directory that cannot be reached ends none and fails logins.

    On a loop of its own thread: Playwright's sync API (the console test in this module)
    keeps a loop running in the test's thread."""
    with ThreadPoolExecutor(max_workers=1) as apart:
        apart.submit(asyncio.run, _login_and_check(directory_up, settings_for, tmp_path)).result()


async def _login_and_check(
    directory_up: RunningSlapd, settings_for: Callable[..., Settings], tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'dispatch.sqlite3'}"
    await asyncio.to_thread(upgrade, url)  # alembic runs a loop of its own
    db = Database(url, audit_key=audit_key.load_or_create(tmp_path / "audit.key"))
    try:
        await demo.seed(db, tmp_path, "ws://127.0.0.1:1111/ws/agent")  # site 1
        directory = LdapDirectory(settings_for(directory_up))
        authenticator = Authenticator(db, directory)
        jana = await authenticator.authenticate_operator("jana", directory_up.password("jana"))
        kurt = await authenticator.authenticate_operator("kurt", directory_up.password("kurt"))
        assert jana is not None
        assert kurt is not None
        assert (jana.role, jana.sites) == (OperatorRole.GUARD, frozenset({1}))
        assert (kurt.role, kurt.sites) == (OperatorRole.EMERGENCY_MANAGER, frozenset())
        watch = DirectoryWatch(db, directory, interval=3600, session_max_age=3600)
        assert (await watch.run_once()).ended == 0

        directory_up.lock("jana")
        first = await watch.run_once()
        assert (first.ended, first.unreachable) == (1, False)
        assert not still_valid(await authenticator.operator(jana.id), jana)
        assert still_valid(await authenticator.operator(kurt.id), kurt)
        assert (await watch.run_once()).ended == 0  # jana has no live session left

        gone = LdapDirectory(
            settings_for(directory_up, ldap_url=f"ldaps://127.0.0.1:{free_port()}")
        )
        cut_off = DirectoryWatch(db, gone, interval=3600, session_max_age=3600)
        assert (await cut_off.run_once()).unreachable
        assert still_valid(await authenticator.operator(kurt.id), kurt)  # kept
        with pytest.raises(DirectoryUnavailable):
            await Authenticator(db, gone).authenticate_operator("kurt", "egal-welches-1")
    finally:
        await db.dispose()
