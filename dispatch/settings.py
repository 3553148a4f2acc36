"""Typed hub settings from SILENT_ALARM_* environment variables; unsafe values refuse to start."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dispatch.net.admission import MAX_QUEUED, MAX_WAIT_S
from dispatch.routing.opening_hours import OpeningHours
from dispatch.store.peer_key import PEER_KEY_FILE
from dispatch.store.postgres_hosts import sqlalchemy_form

# The push services of the browsers a guard's phone or PC runs: Chrome, Edge on Android,
# Samsung Internet and Opera (FCM), Firefox (Mozilla), Edge on Windows (WNS), Safari.
PUSH_SERVICE_HOSTS = (
    "fcm.googleapis.com",
    "updates.push.services.mozilla.com",
    ".notify.windows.com",
    "web.push.apple.com",
)
TEST_ORIGIN = re.compile(r"http://127\.0\.0\.1:[1-9][0-9]{0,4}")


class Settings(BaseSettings):
    """Every option of the hub. Documented in docs/configuration.md."""

    model_config = SettingsConfigDict(env_prefix="SILENT_ALARM_", extra="forbid")

    data_dir: Path = Field(
        default=Path("var"), description="Folder for the SQLite file and generated secrets."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default: SQLite (WAL) at DATA_DIR/dispatch.sqlite3. "
        "PostgreSQL with a standby: libpq's host list, "
        "postgresql+asyncpg://user@db1:5432,db2:5432/dispatch?target_session_attrs=read-write.",
    )
    host: str = Field(default="127.0.0.1", description="Address the hub listens on.")
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port; 0 picks a free one.")
    session_secret: SecretStr | None = Field(
        default=None,
        description="Key that signs operator session cookies (at least 32 characters).",
    )
    session_max_age: int = Field(
        default=8 * 3600, gt=0, description="Seconds until an operator session expires."
    )
    heartbeat_interval: float = Field(
        default=6.0,
        gt=0,
        le=60,
        description=(
            "Seconds between pings. An agent silent for an interval after a ping is closed"
            " (lost within 2 intervals), and an agent drops a hub silent for 2 intervals:"
            " 6 s keeps both within 12 s of the 15 s budget. Consoles: 2.5 intervals."
        ),
    )
    redeliver_interval: float = Field(
        default=2.0, gt=0, description="Seconds between re-sends of unacknowledged alarms."
    )
    handshake_timeout: float = Field(
        default=3.0,
        gt=0,
        description="Seconds an upgraded agent socket has to send its hello (agents send it "
        "at once); a silent one is closed with 4408 and gives its handshake slot back.",
    )
    max_handshakes: int = Field(
        default=64,
        gt=0,
        description="Agent handshakes worked on at once; more wait in a queue for a free slot "
        "(MAX_QUEUED_HANDSHAKES; a restart storm). An agent with an alarm waiting is always "
        "let in.",
    )
    max_queued_handshakes: int = Field(
        default=MAX_QUEUED,
        ge=0,
        description="Agent upgrades over MAX_HANDSHAKES that wait for a slot, first come first "
        "served, their connections not read meanwhile; more are refused with 503 and a "
        "Retry-After. 0: no queue, every upgrade over the limit is refused at once.",
    )
    max_handshake_wait: float = Field(
        default=MAX_WAIT_S,
        gt=0,
        le=60,
        description="Seconds an upgrade waits in the queue at most; then it is refused with 503 "
        "and a Retry-After. Keep it below the agents' own handshake timeout (5 s), or they give "
        "up while waiting and their place is wasted.",
    )
    # --- availability against a LAN attacker (docs/security.md) ---
    max_handshakes_per_address: int = Field(
        default=16,
        gt=0,
        description="Agent handshakes from one address that have not authenticated yet, in a "
        "slot or waiting in the queue; more are refused with 503 at once. Keeps one address "
        "from filling the gate or its queue with sockets that never send a hello.",
    )
    request_timeout: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="Seconds a connection has to send a complete request head (from when it "
        "opens, or from the first byte of its next request), and the longest pause in the "
        "middle of a request body (408); slower ones are closed.",
    )
    max_connections_per_address: int = Field(
        default=1000,
        gt=0,
        description="TCP connections one address may hold at once (agents, consoles, idle "
        "ones); more are answered 503. A terminal server or NAT gateway with more agents "
        "behind it needs a higher value.",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Browser origins allowed on the console WebSocket besides the hub's own.",
    )
    audit_key_file: Path | None = Field(
        default=None,
        description="File with the audit trail's HMAC key, made at first start (0600); "
        "default: DATA_DIR/audit.key. Keep it where the database's users cannot read it.",
    )
    peer_key_file: Path | None = Field(
        default=None,
        description="File with the secret the agents' per-site peer keys are derived from "
        "(issue 16), made at first start (0600); default: DATA_DIR/peer.key. Every hub "
        "instance of an installation needs the same file.",
    )
    audit_anchor_file: Path | None = Field(
        default=None,
        description="File the hub appends the audit chain's head to; default: "
        "DATA_DIR/audit-anchors.jsonl. Keep it where the database's users cannot write.",
    )
    audit_anchor_interval: float = Field(
        default=10.0,
        ge=1.0,
        le=3600.0,
        description="Seconds between anchors of the audit chain's head (when it moved).",
    )
    disk_reserve_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=0,
        description="Bytes the hub keeps allocated beside its SQLite file (<file>.reserve, "
        "by default DATA_DIR/dispatch.sqlite3.reserve) and frees when a write finds the disk "
        "full, so the WAL checkpoint and waiting alarms can still be written; made again when "
        "twice this is free. 0: none.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses of reverse proxies whose X-Forwarded-For/-Proto the hub "
        "believes; empty: none, the peer's own address counts (login and enrolment limits).",
    )
    secure_cookies: bool = Field(
        default=False,
        description="Send the session cookie only over HTTPS and send HSTS (set behind a TLS "
        "proxy; on by itself when the hub serves TLS).",
    )
    tls_certfile: Path | None = Field(
        default=None,
        description="PEM certificate chain: the hub serves HTTPS and WSS itself "
        "(with TLS_KEYFILE).",
    )
    tls_keyfile: Path | None = Field(default=None, description="PEM private key of TLS_CERTFILE.")
    bus: Literal["auto", "local", "postgres"] = Field(
        default="auto",
        description="Bus between hub instances: auto = PostgreSQL LISTEN/NOTIFY on a "
        "PostgreSQL store, else none (one process).",
    )

    # --- monitoring (docs/admin.md "Monitoring") ---
    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="TCP port of the Prometheus metrics (/metrics) on a server of their own; "
        "0: no metrics served. Never on the hub's own port.",
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Address the metrics server listens on (METRICS_PORT). The metrics have "
        "no login: bind them where only the monitoring reaches them.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info",
        description="Lowest level of the JSON log lines on stdout.",
    )

    opening_hours: str = Field(
        default="Mo-Fr 07:00-18:00",
        description="Office hours, e.g. 'Mo-Fr 07:00-18:00; Sa 08:00-12:00' (empty: always); "
        "in them the coverage board highlights rooms without a working agent.",
    )
    timezone: str = Field(default="Europe/Berlin", description="Time zone of the opening hours.")
    # --- retention (docs/operations.md, "Retention"); 0 keeps forever ---
    retain_alarms_days: int = Field(
        default=730,
        ge=0,
        le=36500,
        description="Days a resolved alarm or drill is kept after its all-clear, with its "
        "recipients' answers, the names in it and its incident report; 0: forever.",
    )
    retain_self_tests_days: int = Field(
        default=30,
        ge=0,
        le=36500,
        description="Days a finished self-test is kept; 0: forever.",
    )
    retention_first_run: float = Field(
        default=300.0,
        ge=0,
        le=86400,
        description="Seconds after the hub's start until its first retention run; then every 24 h.",
    )
    retain_audit_days: int = Field(
        default=1095,
        ge=0,
        le=36500,
        description="Days an audit event is kept; older ones are removed behind a keyed "
        "'audit_pruned' record the verifier starts from; 0: forever.",
    )

    # --- Web Push to the guards' phones (docs/channels-webpush.md) ---
    vapid_private_key_file: Path | None = Field(
        default=None,
        description="PEM file with the hub's VAPID private key (RFC 8292), made by "
        "`silent-alarm-dispatch webpush keys`; unset: no Web Push. Only in the settings "
        "file's reach: never in the database, a log or the audit trail.",
    )
    vapid_subject: str = Field(
        default="",
        max_length=200,
        description="Contact the push services may write to about this hub's pushes: "
        "mailto:address or an https:// URL. Required with VAPID_PRIVATE_KEY_FILE.",
    )
    webpush_ttl: int = Field(
        default=600,
        ge=0,
        le=86400,
        description="Seconds a push service keeps an alarm for a phone that is offline "
        "(the TTL header); later it is dropped, not delivered stale.",
    )
    webpush_ack_token_ttl: int = Field(
        default=3600,
        ge=60,
        le=86400,
        description='Seconds the acknowledge token in a push stays valid: "Quittieren" '
        "on the notification works this long after the push was sent.",
    )
    webpush_push_hosts: list[str] = Field(
        default_factory=lambda: list(PUSH_SERVICE_HOSTS),
        description="Host names of the push services the hub posts to (https only); an "
        "entry starting with a dot also allows its subdomains. A subscription to any "
        "other host is refused, so no browser can make the hub post into the LAN.",
    )
    webpush_test_origin: str | None = Field(
        default=None,
        description="Tests only: one http://127.0.0.1:PORT origin of a local push receiver "
        "allowed besides the push services.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, level: object) -> object:
        return level.lower() if isinstance(level, str) else level

    @field_validator("database_url")
    @classmethod
    def _hosts_as_sqlalchemy_reads_them(cls, url: str | None) -> str | None:
        # libpq's "db1:5432,db2:5432" host list → SQLAlchemy's host= arguments; a bad
        # list refuses to start (HostListError is a ValueError, its message without the URL).
        return sqlalchemy_form(url) if url else url

    @model_validator(mode="after")
    def _check_opening_hours(self) -> Settings:
        self.office_hours  # noqa: B018 -- a typo in the hours refuses to start
        return self

    @property
    def office_hours(self) -> OpeningHours:
        return OpeningHours.parse(self.opening_hours, self.timezone)

    @model_validator(mode="after")
    def _tls_needs_both_files(self) -> Settings:
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError(
                "TLS needs both SILENT_ALARM_TLS_CERTFILE and SILENT_ALARM_TLS_KEYFILE"
            )
        return self

    @property
    def tls(self) -> bool:
        return self.tls_certfile is not None

    @property
    def https_only(self) -> bool:
        """Browsers reach the hub over HTTPS: Secure cookies and HSTS."""
        return self.secure_cookies or self.tls

    @model_validator(mode="after")
    def _vapid_needs_a_subject(self) -> Settings:
        if self.vapid_private_key_file is not None and not self.vapid_subject.startswith(
            ("mailto:", "https://")
        ):
            raise ValueError(
                "SILENT_ALARM_VAPID_SUBJECT must be mailto:address or an https:// URL "
                "when SILENT_ALARM_VAPID_PRIVATE_KEY_FILE is set"
            )
        return self

    @field_validator("webpush_test_origin")
    @classmethod
    def _test_origin_on_the_loopback(cls, origin: str | None) -> str | None:
        if origin and not TEST_ORIGIN.fullmatch(origin):
            raise ValueError("only http://127.0.0.1:PORT (a local test receiver)")
        return origin or None

    @model_validator(mode="after")
    def _refuse_weak_secret(self) -> Settings:
        secret = self.session_secret
        if secret is not None and len(secret.get_secret_value()) < 32:
            raise ValueError("SILENT_ALARM_SESSION_SECRET must be at least 32 characters")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'dispatch.sqlite3').resolve()}"

    @property
    def resolved_audit_key_file(self) -> Path:
        return self.audit_key_file or self.data_dir / "audit.key"

    @property
    def resolved_peer_key_file(self) -> Path:
        return self.peer_key_file or self.data_dir / PEER_KEY_FILE

    @property
    def resolved_audit_anchor_file(self) -> Path:
        return self.audit_anchor_file or self.data_dir / "audit-anchors.jsonl"

    def require_session_secret(self) -> SecretStr:
        """The hub never signs sessions with a default key."""
        if self.session_secret is None:
            raise ValueError(
                "SILENT_ALARM_SESSION_SECRET is not set; generate one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        return self.session_secret
