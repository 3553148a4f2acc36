"""`silent-alarm-dispatch`: run the hub, the demo, migrations and first set-up from the shell."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import structlog
import typer
from alembic.util import CommandError
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from dispatch import demo, logs
from dispatch.alarms.retention import Pruned, prune
from dispatch.channels import vapid
from dispatch.directory import enrolment, operators, session_clients, site_setup, workstations
from dispatch.directory.refusals import Refused
from dispatch.directory.room_mapping import ImportReport, export_mapping, import_mapping
from dispatch.directory.site_scope import EVERY_SITE
from dispatch.runtime.gcpause import imports_without_collections
from dispatch.settings import Settings
from dispatch.store import audit
from dispatch.store import audit_key as audit_keys
from dispatch.store.audit_anchors import AnchorError, read_anchors
from dispatch.store.backup import BackupRefused, Restored, backup, restore, restore_stamp
from dispatch.store.database import Database, is_sqlite, sqlite_file
from dispatch.store.migrate import current_revision, head_revision, upgrade
from dispatch.store.sole_server import SqliteFileInUse, sole_server
from dispatch.store.store_health import storage_failure
from shared.domain import OperatorRole, WorkstationRole

T = TypeVar("T")

log = structlog.get_logger(__name__)

*_FIRST_ROLES, _LAST_ROLE = OperatorRole
_ROLES = f"{', '.join(_FIRST_ROLES)} or {_LAST_ROLE}"  # guard, emergency_manager or admin

cli = typer.Typer(
    help="Stiller Alarm – Zentrale (dispatch hub).", no_args_is_help=True, add_completion=False
)
workstation_cli = typer.Typer(help="Workstations (PCs with the agent).", no_args_is_help=True)
operator_cli = typer.Typer(help="Operators of the console.", no_args_is_help=True)
audit_cli = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
enrolment_cli = typer.Typer(help="One-time enrolment codes for agents.", no_args_is_help=True)
mapping_cli = typer.Typer(help="The workstation-to-room mapping as CSV.", no_args_is_help=True)
cli.add_typer(workstation_cli, name="workstation")
cli.add_typer(operator_cli, name="operator")
cli.add_typer(audit_cli, name="audit")
cli.add_typer(enrolment_cli, name="enrolment-code")
directory_cli = typer.Typer(
    help="Operators and PCs from Active Directory / LDAP.", no_args_is_help=True
)
cli.add_typer(mapping_cli, name="mapping")
cli.add_typer(directory_cli, name="directory")
webpush_cli = typer.Typer(help="Web Push to the guards' phones (issue 20).", no_args_is_help=True)
cli.add_typer(webpush_cli, name="webpush")


def fail(message: str, code: int = 2) -> typer.Exit:
    """One line on stderr and a non-zero exit: the CLI's only way to report an error."""
    typer.echo(f"silent-alarm-dispatch: {message}", err=True)
    return typer.Exit(code)


_settings_file: Path | None = None
"""The settings file given with --config (or SILENT_ALARM_CONFIG); None: environment only."""


@cli.callback()
def options(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="SILENT_ALARM_CONFIG",
            help="Settings file of SILENT_ALARM_*=value lines, read by every command; the "
            "package's is /etc/silent-alarm/dispatch.env (its wrapper passes it). "
            "SILENT_ALARM_* environment variables override it (docs/configuration.md).",
        ),
    ] = None,
) -> None:
    """Stiller Alarm – Zentrale (dispatch hub). Settings: --config FILE, then SILENT_ALARM_*."""
    global _settings_file
    if config is not None:
        try:
            config.read_bytes()
        except OSError as error:
            raise fail(f"cannot read settings file {config}: {error.strerror}") from None
    _settings_file = config


def load_settings(**overrides: object) -> Settings:
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        settings = Settings(_env_file=_settings_file, **given)  # type: ignore[arg-type]
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        if first["type"] == "extra_forbidden":
            raise fail(
                f"unknown setting {where.upper()} in {_settings_file or 'environment'}"
            ) from None
        raise fail(f"bad setting {where}: {first['msg']}") from None
    if _settings_file is not None and not {"data_dir", "database_url"} & (
        settings.model_fields_set | set(given)
    ):
        # A settings file is a server's: its database must not land in ./var of whatever
        # folder the admin happens to be in.
        raise fail(f"{_settings_file} sets neither SILENT_ALARM_DATA_DIR nor DATABASE_URL")
    return settings


def database_shown(settings: Settings) -> str:
    """The database a command acts on, as the admin recognises it (no password)."""
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    return url.render_as_string(hide_password=True)


def open_database(settings: Settings) -> Database:
    """The store with the audit key every write path signs its events with."""
    try:
        key = audit_keys.load_or_create(settings.resolved_audit_key_file)
    except audit_keys.AuditKeyError as error:
        raise fail(str(error)) from None
    return Database(settings.resolved_database_url, audit_key=key)


@contextlib.contextmanager
def serving_alone(settings: Settings) -> Iterator[None]:
    """This process is the only hub on its SQLite file while it serves (see sole_server)."""
    try:
        with sole_server(settings.resolved_database_url):
            yield
    except SqliteFileInUse as error:
        raise fail(str(error)) from None


def run_server(settings: Settings) -> None:
    # The web application and the server are imported by the commands that serve only:
    # they are half of the import time, which every other command would pay.
    with imports_without_collections():
        import uvicorn

        from dispatch.app import AGENT_PATH, create_app, with_agent_fast_path
        from dispatch.live.hub import PONG_WAIT_INTERVALS
        from dispatch.net.connection import HubHttpProtocol, HubWebSocketProtocol
        from dispatch.net.connection_limits import (
            Addresses,
            ConnectionLedger,
            connection_budget,
            raise_open_file_limit,
        )
        from dispatch.web.body_limits import BoundedBodies
        from shared.protocol import MAX_MESSAGE_BYTES

    try:
        app = create_app(settings)
    except ValueError as error:
        raise fail(str(error)) from None
    gate = app.state.handshake_gate
    # Descriptors: the hard limit, and connections capped below it and per address.
    ledger = ConnectionLedger(
        per_address=settings.max_connections_per_address,
        total=connection_budget(raise_open_file_limit()),
        exempt=Addresses(settings.trusted_proxies),
    )
    uvicorn.run(
        # outermost: no body is read past its route's limit, not even by error pages
        BoundedBodies(with_agent_fast_path(app), idle_timeout=settings.request_timeout),
        host=settings.host,
        port=settings.port,
        # uvicorn's, with the admission gate, shared frames and one keepalive round
        http=HubHttpProtocol.admitting(gate, AGENT_PATH, ledger, settings.request_timeout),
        ws=HubWebSocketProtocol.admitting(gate, AGENT_PATH, ledger),
        ws_max_size=MAX_MESSAGE_BYTES,  # larger frames are closed with 1009
        ws_per_message_deflate=False,  # compression costs CPU per message and invites zip bombs
        # WebSocket pings, answered by the agent's WebSocket library: a lost, frozen or
        # half-open agent is closed an interval after a ping without pong, within 2
        # intervals of its last sign of life (12 s at 6 s), and the ping frames are
        # handled below the application (dispatch/net/keepalive.py).
        ws_ping_interval=settings.heartbeat_interval,
        ws_ping_timeout=settings.heartbeat_interval * PONG_WAIT_INTERVALS,
        log_config=None,
        timeout_graceful_shutdown=5,
        # uvicorn believes X-Forwarded-For from 127.0.0.1 by default: any local process
        # could then pick the address the login and enrolment limits count. Only the
        # configured proxies are believed.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=",".join(settings.trusted_proxies) or None,
        ssl_certfile=settings.tls_certfile,
        ssl_keyfile=settings.tls_keyfile,
    )


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port.")] = None,
) -> None:
    """Migrate the database and run the hub with the settings from SILENT_ALARM_* variables."""
    logs.configure()
    settings = load_settings(host=host, port=port)
    logs.configure(settings.log_level)
    with serving_alone(settings):
        _migrate_at_start(settings)
        run_server(settings)


def _migrate_at_start(settings: Settings) -> None:
    """The migrations before serving; a full or broken disk does not stop the start.

    SQLite cannot even open its store on a full disk. Exiting would have systemd
    restart the hub in a loop, with nobody told; instead it starts, /readyz says why
    it is not ready, and it recovers when space is back (issue 16). Migrations an
    upgrade brings are run by the package's ``migrate``, which fails loudly then.
    """
    try:
        upgrade(settings.resolved_database_url)
    except CommandError as error:
        # A schema this version does not know (a newer version's database): serving it
        # not ready, /readyz naming the schema, tells more than a restart loop would.
        log.error("migrations_not_run", reason=_reason(error))
    except Exception as error:
        problem = storage_failure(error)
        if problem is None:
            if isinstance(error, OSError | SQLAlchemyError):
                raise _cannot_migrate(settings, error) from None
            raise
        log.error("migrations_not_checked", problem=problem.value)


@cli.command("demo")
def run_demo(
    data_dir: Annotated[Path, typer.Option(help="Where the demo keeps its files.")] = Path(
        "var/demo"
    ),
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Run the hub on SQLite with a demo site; prints the console URL and the guard login."""
    from dispatch.app import AGENT_PATH  # the web application: see run_server

    logs.configure()
    settings = load_settings(
        data_dir=data_dir,
        host=host,
        port=port,
        session_secret=os.environ.get("SILENT_ALARM_SESSION_SECRET")
        or demo.session_secret(data_dir),
    )
    logs.configure(settings.log_level)
    with serving_alone(settings):
        _migrate_at_start(settings)
        url = f"{'https' if settings.tls else 'http'}://{host}:{port}"
        socket_url = f"{'wss' if settings.tls else 'ws'}://{host}:{port}{AGENT_PATH}"
        login = asyncio.run(_seed_demo_once(settings, socket_url))
        agents = (data_dir / demo.AGENTS_DIR).resolve()
        sys.stdout.write(
            "\n"
            f"  Stiller Alarm – Demo\n"
            f"  Konsole:   {url}/\n"
            f"  Anmeldung: {login.username} / {login.password}\n"
            f"  Agenten:   silent-alarm-agent run --config {agents}/pc-1-01.toml  (usw.)\n"
            "\n"
        )
        sys.stdout.flush()
        run_server(settings)


async def _seed_demo_once(settings: Settings, hub_url: str) -> demo.DemoLogin:
    db = open_database(settings)
    try:
        try:
            seeded = await site_setup.has_sites(db)
        except Exception as error:
            # A full disk (issue 16): a demo seeded before starts, not ready, as serve does.
            if storage_failure(error) is None or not (settings.data_dir / demo.LOGIN_FILE).exists():
                raise
            seeded = True
        if not seeded:
            return await demo.seed(db, settings.data_dir, hub_url)
        demo.point_agents_at(settings.data_dir, hub_url)
        return demo.read_login(settings.data_dir)
    finally:
        await db.dispose()


@cli.command()
def migrate() -> None:
    """Bring the database schema to the newest version."""
    logs.configure()
    settings = load_settings()
    logs.configure(settings.log_level)
    _migrate(settings)
    typer.echo(f"database {database_shown(settings)} is at schema {head_revision()}")


def _migrate(settings: Settings) -> None:
    try:
        upgrade(settings.resolved_database_url)
    except (OSError, SQLAlchemyError, CommandError) as error:
        raise _cannot_migrate(settings, error) from None


def _cannot_migrate(settings: Settings, error: Exception) -> typer.Exit:
    return fail(f"cannot migrate database {database_shown(settings)}: {_reason(error)}")


@workstation_cli.command("add")
def workstation_add(
    workstation_id: str,
    room: Annotated[str, typer.Option(help="Room number at the site.")],
    site: Annotated[int, typer.Option(help="Site id.")] = 1,
    role: Annotated[WorkstationRole, typer.Option(help="staff or security.")] = (
        WorkstationRole.STAFF
    ),
    name: Annotated[str, typer.Option(help="Who works there (shown on popups).")] = "",
) -> None:
    """Register a PC in a room; prints its device token once (only a hash is kept)."""
    from dispatch.directory.credentials import new_device_token

    token = new_device_token()

    async def add(db: Database) -> None:
        room_id = await site_setup.room_by_number(db, site, room)
        await workstations.add_workstation(
            db, _cli_actor(), workstation_id, site, room_id, token, role, name
        )

    _with_store(add)
    _done(f"workstation {workstation_id} added in room {room} of site {site}", err=True)
    typer.echo(token)


@workstation_cli.command("add-client")
def workstation_add_client(
    client_name: str,
    room: Annotated[str, typer.Option(help="Room number at the site.")],
    site: Annotated[int, typer.Option(help="Site id.")] = 1,
) -> None:
    """Map a terminal server's client device (thin client) to a room; no token: only a
    session on a terminal server speaks for it (docs/agent.md, Terminalserver)."""
    if not session_clients.is_client_name(client_name):
        raise fail(f"bad client name {client_name!r}: letters, digits, '.', '_', '-' (≤ 64)")

    async def add(db: Database) -> None:
        room_id = await site_setup.room_by_number(db, site, room)
        await session_clients.add_session_client(
            db, _cli_actor(), client_name, room_id, scope=EVERY_SITE
        )

    _with_store(add)
    _done(f"client {client_name} mapped to room {room} of site {site}")


@operator_cli.command("add")
def operator_add(
    username: str,
    role: Annotated[str, typer.Option(help=f"{_ROLES}.")],
    name: Annotated[str, typer.Option(help="Display name.")],
) -> None:
    """Create a console login; the password is read from standard input."""
    if role not in set(OperatorRole):
        raise fail(f"unknown role {role!r}: use {_ROLES}")
    password = sys.stdin.readline().rstrip("\n")

    async def add(db: Database) -> None:
        await operators.create_operator(
            db, _cli_actor(), username, password, OperatorRole(role), name, scope=EVERY_SITE
        )

    _with_store(add)
    _done(f"operator {username} ({role}) created")


@audit_cli.command("verify")
def audit_verify() -> None:
    """Check every audit event against its keyed hash and its link, and the chain against
    the anchors recorded outside the database; exit 1 at the first break."""
    settings = load_settings()
    key_file, anchor_file = settings.resolved_audit_key_file, settings.resolved_audit_anchor_file
    try:
        key = audit_keys.load(key_file) if key_file.exists() else None
        anchors = read_anchors(anchor_file, key) if key and anchor_file.exists() else []
    except (audit_keys.AuditKeyError, AnchorError, OSError) as error:
        raise fail(str(error), code=1) from None
    if key is None and anchor_file.exists():
        raise fail(f"{key_file} is missing: the anchors in {anchor_file} cannot be checked", 1)

    async def check() -> audit.Verdict:
        db = Database(settings.resolved_database_url)
        try:
            return await audit.verify(db, key, [(a.event_id, a.hash) for a in anchors])
        finally:
            await db.dispose()

    verdict = asyncio.run(check())
    if verdict.broken_at is not None:
        raise fail(
            f"audit trail broken at event {verdict.broken_at}: {verdict.problem} "
            f"({verdict.events} events before it are intact)",
            code=1,
        )
    keyed = (
        "no keyed events"
        if verdict.keyed_from is None
        else f"keyed from event {verdict.keyed_from}"
    )
    pruned = (
        ""
        if verdict.pruned_up_to is None
        else f", starts after pruned event {verdict.pruned_up_to} "
        f"({verdict.anchors_pruned} anchors of pruned events skipped)"
    )
    typer.echo(
        f"{verdict.events} events, chain intact, {keyed}, {verdict.anchors} anchors match"
        f"{pruned}, head {verdict.head}"
    )


@cli.command("prune")
def prune_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would go, delete nothing.")
    ] = False,
) -> None:
    """Delete resolved alarms, self-tests and audit events older than the RETAIN_* settings
    (what the hub does daily); prints the counts. docs/operations.md, Retention."""
    from dispatch.app import retention_policy  # the web application: see run_server

    settings = load_settings()
    policy = retention_policy(settings)
    now = datetime.now(UTC)

    def run(db: Database) -> Awaitable[Pruned]:
        return prune(db, policy, now=now, actor=_cli_actor(), dry_run=dry_run)

    done = _with_store(run)
    verb = "would delete" if dry_run else "deleted"
    typer.echo(f"alarms and drills: {verb} {done.alarms} (kept {_days(policy.alarms_days)})")
    typer.echo(f"self-tests: {verb} {done.self_tests} (kept {_days(policy.self_tests_days)})")
    cut = "" if done.audit_up_to is None else f", up to event {done.audit_up_to}"
    typer.echo(f"audit events: {verb} {done.audit_events}{cut} (kept {_days(policy.audit_days)})")
    _done("dry run, nothing deleted" if dry_run else "pruned")


def _days(days: int) -> str:
    return f"{days} days" if days else "forever"


def _cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@workstation_cli.command("revoke")
def workstation_revoke(workstation_id: str) -> None:
    """Revoke a PC's device secret; the hub closes its live connection (4410) on its next
    supervision round, and the secret is refused from now on."""

    async def revoke(db: Database) -> bool:
        return await workstations.revoke_workstation(
            db, _cli_actor(), workstation_id, scope=EVERY_SITE
        )

    changed = _with_store(revoke)
    _done(f"{workstation_id} revoked" if changed else f"{workstation_id} was revoked already")


@enrolment_cli.command("create")
def enrolment_code_create(
    site: Annotated[int, typer.Option(help="Site id the PCs belong to.")],
    room: Annotated[
        str | None, typer.Option(help="Room number to pre-assign (the PC enrols as active).")
    ] = None,
    hours: Annotated[float, typer.Option(help="Validity in hours (at most 168).")] = 24.0,
    count: Annotated[int, typer.Option(help="How many one-time codes (one per line).")] = 1,
) -> None:
    """Create one-time enrolment codes and print them; only their hashes are kept."""

    async def create(db: Database) -> list[str]:
        room_id = await site_setup.room_by_number(db, site, room) if room is not None else None
        issued = await enrolment.issue_codes(
            db, _cli_actor(), site, room_id, hours, count, scope=EVERY_SITE
        )
        return [code.code for code in issued]

    codes = _with_store(create)
    for code in codes:
        typer.echo(code)
    _done(f"{len(codes)} enrolment code(s) for site {site}, valid {hours:g} h", err=True)


@mapping_cli.command("export")
def mapping_export() -> None:
    """Print the mapping as CSV: hostname, workstation_id, room_number, role, state."""
    sys.stdout.write(_with_store(lambda db: export_mapping(db, EVERY_SITE)))


@mapping_cli.command("import")
def mapping_import(
    file: Annotated[Path, typer.Argument(help="CSV: hostname, room_number[, role, site_id, kind]")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report, change nothing.")] = False,
) -> None:
    """Assign rooms and roles from CSV, creating the thin clients of rows of kind client;
    every bad row is listed and then nothing is imported."""
    try:
        data = file.read_bytes()
    except OSError as error:
        raise fail(f"cannot read {file}: {error.strerror}") from None

    async def run(db: Database) -> ImportReport:
        return await import_mapping(db, data, dry_run=dry_run, actor=_cli_actor(), scope=EVERY_SITE)

    report = _with_store(run)
    _echo_mapping(report, lambda line: f"line {line}", "import refused", "nothing was imported")
    for client in report.created:
        typer.echo(
            f"line {client['line']}: {client['workstation_id']}: new client in room "
            f"{client['room_number']} of site {client['site_id']}"
        )
    verb, create = ("would change", "would create") if dry_run else ("changed", "created")
    _done(
        f"{report.rows} rows: {verb} {len(report.changed)}, unchanged {report.unchanged}, "
        f"{create} {len(report.created)} client(s)"
    )


def _echo_mapping(
    report: ImportReport, where: Callable[[int], str], refused: str, unchanged: str
) -> None:
    """One mapping import's outcome, the CSV file's or the directory's: every problem and
    then a refusal (nothing changed), or every change, each named by ``where`` its row is."""
    if report.errors:
        for problem in report.errors:
            typer.echo(f"{where(problem.line)}: {problem.reason}")
        raise fail(f"{refused}: {len(report.errors)} problem(s); {unchanged}")
    for change in report.changed:
        described = ", ".join(
            f"{key} {old or '-'} -> {new or '-'}" for key, (old, new) in change["changes"].items()
        )
        typer.echo(f"{where(change['line'])}: {change['workstation_id']}: {described}")


@directory_cli.command("sync")
def directory_sync(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report, change nothing.")] = False,
    apply: Annotated[bool, typer.Option("--apply", help="Change the mapping.")] = False,
) -> None:
    """Assign PCs to rooms from the directory's computer objects, with the CSV import's rules:
    every problem listed and then nothing changed; rooms are never created."""
    # The LDAP client library, for this command only (as the web application: run_server).
    from dispatch.directory.directory_sync import SyncReport, sync_rooms
    from dispatch.directory.ldap_directory import DirectoryUnavailable, LdapDirectory

    if dry_run == apply:
        raise fail("say --dry-run (report only) or --apply (change the mapping)")
    settings = load_settings()
    if settings.ldap_url is None:
        raise fail("no directory configured: set SILENT_ALARM_LDAP_URL (docs/configuration.md)")
    directory = LdapDirectory(settings)

    async def run(db: Database) -> SyncReport:
        try:
            return await sync_rooms(
                db, directory, dry_run=dry_run, actor=_cli_actor(), scope=EVERY_SITE
            )
        except DirectoryUnavailable as error:
            raise fail(f"directory {directory.address} cannot be used: {error}") from None

    synced = _with_store(run)
    report = synced.report
    _echo_mapping(report, synced.where, "sync refused", "nothing was changed")
    for row in report.skipped:
        typer.echo(f"{synced.where(row.line)}: not enrolled ({row.hostname})")
    for computer in synced.without_room:
        typer.echo(f"{computer.dn}: no {settings.ldap_computer_room_attribute}, skipped")
    verb = "would change" if dry_run else "changed"
    _done(
        f"{report.rows} computers with a room: {verb} {len(report.changed)}, unchanged "
        f"{report.unchanged}, not enrolled {len(report.skipped)}; "
        f"{len(synced.without_room)} without a room"
    )


@webpush_cli.command("keys")
def webpush_keys(
    file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="The private key file to create (0600); default: "
            "SILENT_ALARM_VAPID_PRIVATE_KEY_FILE, else DATA_DIR/vapid-private.pem.",
        ),
    ] = None,
) -> None:
    """Make the hub's VAPID key pair (RFC 8292); never over an existing file."""
    settings = load_settings()
    target = file or settings.vapid_private_key_file or settings.data_dir / "vapid-private.pem"
    try:
        public = vapid.generate(target)
    except vapid.VapidKeyError as error:
        raise fail(str(error)) from None
    typer.echo(f"VAPID private key written to {target} (mode 0600); public key:")
    typer.echo(public)
    typer.echo(
        "add to the settings file: "
        f"SILENT_ALARM_VAPID_PRIVATE_KEY_FILE={target.resolve()} and "
        "SILENT_ALARM_VAPID_SUBJECT=mailto:<the operator's address>; then restart the hub"
    )


@cli.command("backup")
def backup_command(
    file: Annotated[Path, typer.Argument(help="The backup file to write (created 0600).")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing FILE.")] = False,
) -> None:
    """Copy the database, consistent while the hub runs (SQLite's online backup API); the
    audit key is not copied: keep it apart (docs/operations.md). PostgreSQL: pg_dump."""
    settings = load_settings()
    shown, url = database_shown(settings), settings.resolved_database_url
    if not is_sqlite(url):
        raise fail(
            f"database {shown} is PostgreSQL: use pg_dump --format=custom "
            "(docs/operations.md, Backup and restore)"
        )
    try:
        written = backup(Path(sqlite_file(url) or ""), file, force=force)
    except BackupRefused as error:
        raise fail(str(error)) from None
    typer.echo(f"backup {file}: {written.described()} (database {shown})")
    typer.echo(
        f"the audit key {settings.resolved_audit_key_file} is not in the backup: keep a copy "
        "of it apart from the backup; a restore needs it to verify the audit trail"
    )


@cli.command("restore")
def restore_command(
    file: Annotated[Path, typer.Argument(help="A backup made by `backup`.")],
) -> None:
    """Replace the database with a backup (the hub stopped), migrated to this version; the
    replaced one is kept as <database>.before-restore-<time>. PostgreSQL: pg_restore."""
    settings = load_settings()
    shown, url = database_shown(settings), settings.resolved_database_url
    if not is_sqlite(url):
        raise fail(
            f"database {shown} is PostgreSQL: use pg_restore, then `silent-alarm-dispatch "
            "migrate` (docs/operations.md, Backup and restore)"
        )
    now = datetime.now(UTC)
    try:
        with sole_server(url, wait=0):  # held throughout: no hub starts on it meanwhile
            done = restore(file, Path(sqlite_file(url) or ""), now=now)
    except SqliteFileInUse:
        raise fail(f"a hub serves database {shown}: stop it before restoring") from None
    except BackupRefused as error:
        raise fail(str(error)) from None
    _report_restore(file, done, shown)
    _set_anchors_aside(settings.resolved_audit_anchor_file, now)
    key_file = settings.resolved_audit_key_file
    if not key_file.exists():
        typer.echo(
            f"no audit key at {key_file}: put the key kept with the backup there before the "
            "hub starts, or `audit verify` cannot check the restored trail",
            err=True,
        )


def _report_restore(file: Path, done: Restored, shown: str) -> None:
    typer.echo(f"restored {file}: {done.restored.described()} (database {shown})")
    if done.migrated_to is not None:
        typer.echo(f"migrated from schema {done.restored.schema} to {done.migrated_to}")
    if done.kept is not None:
        typer.echo(f"the replaced database is kept as {done.kept}")


def _set_anchors_aside(anchors: Path, now: datetime) -> None:
    """The anchors describe the replaced database's chain, which may run past the backup's
    end: kept beside, not checked against the restored one."""
    if not anchors.exists():
        return
    kept = anchors.with_name(f"{anchors.name}.before-restore-{restore_stamp(now)}")
    try:
        anchors.rename(kept)
    except OSError as error:
        typer.echo(
            f"cannot set the audit anchors {anchors} aside ({error.strerror}): they describe "
            "the replaced database; move them before `audit verify`",
            err=True,
        )
        return
    typer.echo(f"the audit anchors of the replaced database are kept as {kept}")


def _with_store(work: Callable[[Database], Awaitable[T]]) -> T:
    """Runs ``work`` on the configured store, migrated to this version; a refusal or a store
    it cannot use is one line on stderr, naming the database, and exit 2."""
    settings = load_settings()
    shown = database_shown(settings)
    url = settings.resolved_database_url
    if is_sqlite(url) and not Path(sqlite_file(url) or "").is_file():
        # Opening it would create an empty file and fail on the first missing table.
        raise fail(f"no database at {shown}: run `silent-alarm-dispatch migrate` first")

    async def run() -> T:
        db = open_database(settings)
        try:
            try:
                version = await current_revision(db.engine)
            except (OSError, SQLAlchemyError) as error:
                raise fail(f"cannot open database {shown}: {_reason(error)}") from None
            if version != (needed := head_revision()):
                raise fail(
                    f"database {shown} is at schema {version or 'none'}, this version needs "
                    f"{needed}: run `silent-alarm-dispatch migrate` first"
                )
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except Refused as error:
        raise fail(f"{error} (database {shown})") from None


def _done(message: str, *, err: bool = False) -> None:
    """What a command did, and in which database (stdout, or stderr beside printed secrets)."""
    typer.echo(f"{message} (database {database_shown(load_settings())})", err=err)


def _reason(error: Exception) -> str:
    """The driver's own words, first line only (SQLAlchemy appends SQL and a link)."""
    cause = getattr(error, "orig", None) or error
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]


def main() -> None:
    cli()
