"""Typed hub settings from SILENT_ALARM_* environment variables; unsafe values refuse to start."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dispatch.channels.espa444_address import Link, parse_link
from dispatch.channels.espa444_frames import Charset
from dispatch.net.admission import MAX_QUEUED, MAX_WAIT_S
from dispatch.routing.opening_hours import OpeningHours
from dispatch.store.peer_key import PEER_KEY_FILE
from dispatch.store.postgres_hosts import sqlalchemy_form
from shared.domain import OperatorRole

WEBHOOK_FIELDS = frozenset(
    {
        "to",
        "subject",
        "body",
        "level",
        "room",
        "site",
        "alarm_id",
        "audience",
        "idempotency_key",
        "kind",  # alarm, all_clear or test (issue 20, the all-clear)
    }
)
"""The placeholders a webhook body template may use (``$body``, ``${room}``)."""


class WebhookEndpoint(BaseModel):
    """One HTTP endpoint the webhook channel posts to: an SMS gateway, a chat tool (issue 20).

    Part of SILENT_ALARM_WEBHOOKS (JSON, by name); docs/channels.md has two examples.
    """

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://", max_length=2000)
    method: Literal["POST", "PUT"] = "POST"
    # Sent with every request; an Authorization header is a secret: never logged.
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    # string.Template text, e.g. {"to": "$to", "text": "$body"}; values are escaped for
    # ``content_type`` (JSON strings or form fields).
    body: str = Field(min_length=1, max_length=10_000)
    content_type: Literal["application/json", "application/x-www-form-urlencoded"] = (
        "application/json"
    )
    # HMAC-SHA256 of the body with this key goes in X-Silent-Alarm-Signature: sha256=<hex>.
    secret: SecretStr | None = None
    label: str = Field(default="", max_length=40)  # shown on the console: "SMS", "Chat"

    @field_validator("body")
    @classmethod
    def _known_placeholders(cls, body: str) -> str:
        template = string.Template(body)
        if not template.is_valid():
            raise ValueError("webhook body: a '$' that is no placeholder (write $$ for '$')")
        unknown = set(template.get_identifiers()) - WEBHOOK_FIELDS
        if unknown:
            raise ValueError(
                f"webhook body: unknown placeholders {sorted(unknown)}; "
                f"known: {sorted(WEBHOOK_FIELDS)}"
            )
        return body


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

    # --- outbound channels (issue 20, docs/channels.md); secrets only here, never stored ---
    smtp_host: str = Field(
        default="", description="SMTP server for e-mail alarms; empty: no e-mail channel."
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP port (submission).")
    smtp_starttls: bool = Field(
        default=True,
        description="Upgrade the SMTP connection with STARTTLS before logging in (refuses a "
        "server that does not offer it). Off only for a relay on the same host.",
    )
    smtp_username: str = Field(default="", description="SMTP login; empty: no AUTH.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    smtp_from: str = Field(
        default="", description="Sender address of alarm e-mails (required with SMTP_HOST)."
    )
    smtp_ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CA the SMTP server's certificate is checked against "
        "(an office CA); default: the system's trust store.",
    )
    webhooks: dict[str, WebhookEndpoint] = Field(
        default_factory=dict,
        description="Webhook endpoints by name, as JSON (SMS gateways, chat tools): "
        '{"sms": {"url": …, "headers": {…}, "body": …, "secret": …}}; a recipient\'s '
        'address is "name:recipient" (sms:+491701234567).',
    )
    channel_send_timeout: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="Seconds one send (an SMTP session, a webhook request) may take; a send "
        "cut off by a crash is taken up again after twice this.",
    )
    channel_concurrency: int = Field(
        default=16,
        ge=1,
        le=256,
        description="Outbound messages in flight at once per channel (e-mail, webhook, ESPA, "
        "Web Push) and hub instance; a channel whose sends hang holds only its own.",
    )
    channel_max_attempts: int = Field(
        default=8,
        ge=1,
        le=50,
        description="Attempts per message (1 s, doubling to 60 s apart) before it is given up.",
    )

    @field_validator("webhooks")
    @classmethod
    def _endpoint_names(cls, webhooks: dict[str, WebhookEndpoint]) -> dict[str, WebhookEndpoint]:
        for name in webhooks:
            if not name or not all(c.isalnum() or c in "-_" for c in name) or len(name) > 32:
                raise ValueError(f"webhook name {name!r}: letters, digits, - and _ (≤ 32)")
        return webhooks

    @model_validator(mode="after")
    def _smtp_needs_sender(self) -> Settings:
        if self.smtp_host and not self.smtp_from:
            raise ValueError("SILENT_ALARM_SMTP_FROM is required with SILENT_ALARM_SMTP_HOST")
        return self

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

    # --- DECT and pager systems through ESPA 4.4.4 (docs/channels.md) ---
    espa_address: str | None = Field(
        default=None,
        description="The paging system's ESPA 4.4.4 interface: tcp://host:port, or "
        "serial:///dev/ttyUSB0?baudrate=9600&bytesize=7&parity=E&stopbits=1; empty: no ESPA "
        "channel.",
    )
    espa_own_address: str = Field(
        default="1",
        pattern=r"^[0-9]$",
        description="The hub's station address on the ESPA line (it is the control station).",
    )
    espa_paging_address: str = Field(
        default="2",
        pattern=r"^[0-9]$",
        description="The paging system's station address on the ESPA line.",
    )
    espa_charset: Charset = Field(
        default="ascii",
        description="Characters the paging system shows: ascii (umlauts written out), "
        "din66003 (German 7-bit) or latin1 (ISO 8859-1).",
    )
    espa_max_text: int = Field(
        default=128,
        ge=16,
        le=1024,
        description="Characters of display text per call; ESPA 4.4.4 allows 128.",
    )
    espa_answer_timeout: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="Seconds the hub waits for each ACK or NAK of the paging system.",
    )
    espa_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Times a selection or call block is sent again after NAK or silence.",
    )
    espa_connect_timeout: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Seconds to open the TCP connection or the serial port.",
    )
    espa_status_timeout: float = Field(
        default=0.0,
        ge=0,
        le=300,
        description="Seconds the hub polls for the call status after the paging system took a "
        "call; 0: its ACK counts as sent.",
    )
    espa_beep_coding: str | None = Field(
        default=None,
        pattern=r"^[1-9]$",
        description="Beep coding (record 3) '1'-'9' of every call; empty: the paging system's "
        "default.",
    )
    espa_transmissions: int = Field(
        default=1,
        ge=1,
        le=9,
        description="Number of transmissions (record 5) of every call.",
    )

    @field_validator("espa_address", "espa_beep_coding", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # SILENT_ALARM_ESPA_ADDRESS= in a settings file turns the channel off.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("espa_address")
    @classmethod
    def _espa_address_is_a_link(cls, url: str | None) -> str | None:
        if url is not None:
            parse_link(url)  # a ValueError naming what is wrong refuses to start
        return url

    @model_validator(mode="after")
    def _espa_addresses_differ(self) -> Settings:
        if self.espa_own_address == self.espa_paging_address:
            raise ValueError(
                "SILENT_ALARM_ESPA_OWN_ADDRESS and SILENT_ALARM_ESPA_PAGING_ADDRESS must differ"
            )
        return self

    @property
    def espa_link(self) -> Link | None:
        return parse_link(self.espa_address) if self.espa_address else None

    # --- operators and PCs from a directory (Active Directory / LDAP; docs/configuration.md) ---
    ldap_url: str | None = Field(
        default=None,
        description="Directory server, ldaps://dc.example:636 (or ldap://… with LDAP_START_TLS); "
        "unset: no directory, local accounts only.",
    )
    ldap_start_tls: bool = Field(
        default=False, description="Upgrade an ldap:// connection with StartTLS before binding."
    )
    ldap_ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CA that signed the directory's certificate; unset: the "
        "system's certificate store.",
    )
    ldap_allow_plaintext: bool = Field(
        default=False,
        description="Allow ldap:// without StartTLS: passwords in clear text. Test benches only.",
    )
    ldap_bind_dn: str = Field(
        default="", description="Service account that searches users, groups and computers."
    )
    ldap_bind_password: SecretStr | None = Field(
        default=None, description="The service account's password (never logged)."
    )
    ldap_user_base: str = Field(default="", description="Where users are searched (subtree).")
    ldap_login_attribute: str = Field(
        default="uid",
        description="Attribute holding the login name (AD: sAMAccountName).",
    )
    ldap_user_filter: str = Field(
        default="(objectClass=person)",
        description="What else a user entry must match, besides the login name.",
    )
    ldap_display_name_attribute: str = Field(
        default="displayName", description="Attribute shown as the operator's name."
    )
    ldap_disabled_filter: str = Field(
        default="",
        description="A user entry matching it is disabled: AD "
        "(userAccountControl:1.2.840.113556.1.4.803:=2), OpenLDAP (pwdAccountLockedTime=*).",
    )
    ldap_group_base: str = Field(
        default="", description="Where groups are searched (subtree); default: LDAP_USER_BASE."
    )
    ldap_group_filter: str = Field(
        default="(member={user_dn})",
        description="A group the user belongs to; {user_dn} is the user's DN (escaped). AD with "
        "nested groups: (member:1.2.840.113556.1.4.1941:={user_dn}).",
    )
    ldap_group_roles: dict[str, OperatorRole] = Field(
        default_factory=dict,
        description="Group DN → role; several groups: the highest role.",
    )
    ldap_group_sites: dict[str, list[int]] = Field(
        default_factory=dict,
        description="Group DN → site ids ([]: every site); several groups: their union. Empty "
        "mapping: every directory operator covers every site.",
    )
    ldap_check_interval: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="Seconds between checks of the directory operators with a live session: a "
        "disabled or unmapped account loses its sessions, changed groups change its rights.",
    )
    ldap_timeout: float = Field(
        default=5.0, gt=0, le=60, description="Seconds to connect to and wait for the directory."
    )
    ldap_computer_base: str = Field(
        default="", description="Where computer objects are searched for `directory sync`."
    )
    ldap_computer_filter: str = Field(
        default="(objectClass=computer)", description="Which entries are PCs."
    )
    ldap_computer_name_attribute: str = Field(
        default="cn", description="Attribute holding the PC's host name (matched to the agent's)."
    )
    ldap_computer_room_attribute: str = Field(
        default="location", description="Attribute holding the PC's room number."
    )
    # --- Web Push to the guards' phones (docs/channels.md) ---
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

    @model_validator(mode="after")
    def _directory_over_tls(self) -> Settings:
        if self.ldap_url is None:
            return self
        scheme = urlsplit(self.ldap_url).scheme.lower()
        if scheme not in {"ldap", "ldaps"} or not urlsplit(self.ldap_url).hostname:
            raise ValueError(
                "SILENT_ALARM_LDAP_URL must be ldaps://host[:port] or ldap://host[:port]"
            )
        if scheme == "ldaps" and self.ldap_start_tls:
            raise ValueError("SILENT_ALARM_LDAP_START_TLS is for ldap:// URLs; ldaps:// is TLS")
        if scheme == "ldap" and not self.ldap_start_tls and not self.ldap_allow_plaintext:
            raise ValueError(
                "SILENT_ALARM_LDAP_URL ldap:// sends passwords in clear text: use ldaps:// or "
                "SILENT_ALARM_LDAP_START_TLS=true"
            )
        if not self.ldap_bind_dn or self.ldap_bind_password is None:
            raise ValueError("a directory needs SILENT_ALARM_LDAP_BIND_DN and LDAP_BIND_PASSWORD")
        if not self.ldap_user_base:
            raise ValueError("a directory needs SILENT_ALARM_LDAP_USER_BASE")
        if not self.ldap_group_roles:
            raise ValueError("a directory needs SILENT_ALARM_LDAP_GROUP_ROLES (group DN → role)")
        if "{user_dn}" not in self.ldap_group_filter:
            raise ValueError("SILENT_ALARM_LDAP_GROUP_FILTER must contain {user_dn}")
        for name in ("user_filter", "disabled_filter", "group_filter", "computer_filter"):
            value = getattr(self, f"ldap_{name}")
            if value and not _balanced_filter(value):
                raise ValueError(f"SILENT_ALARM_LDAP_{name.upper()} is not an LDAP filter: {value}")
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


def _balanced_filter(text: str) -> bool:
    """Whether ``text`` is one parenthesised LDAP filter (a typo would match nothing or all)."""
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth = 0
    for position, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0 or (depth == 0 and position < len(text) - 1):
            return False
    return depth == 0
