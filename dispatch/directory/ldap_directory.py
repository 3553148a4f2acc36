"""The directory server (AD, OpenLDAP) over TLS: find a user, check a password, list PCs.

Every call opens its own connection (logins and checks are rare), binds as the
service account to search, and is synchronous (ldap3): callers run it in a
thread. Everything a user typed reaches a filter only escaped (RFC 4515), so a
login name cannot change what is searched. A server that cannot be reached, or
refuses the service account, raises ``DirectoryUnavailable``; a wrong user
password is a plain ``False``.
"""

from __future__ import annotations

import contextlib
import math
import ssl
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from ldap3 import BASE, NO_ATTRIBUTES, NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from dispatch.settings import Settings

INVALID_CREDENTIALS = 49  # RFC 4511 resultCode invalidCredentials


class DirectoryUnavailable(Exception):
    """The directory did not answer, or refused the service account: nothing was decided."""


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    """A user entry as the hub needs it; ``groups`` are normalised DNs (``normal_dn``)."""

    dn: str
    login: str
    display_name: str
    disabled: bool
    groups: frozenset[str]


@dataclass(frozen=True, slots=True)
class DirectoryComputer:
    dn: str
    hostname: str
    room: str


def normal_dn(dn: str) -> str:
    """A DN in one spelling (types and values lower-case, no spaces around separators), so a
    group DN from the settings compares equal to the server's."""
    try:
        parts = parse_dn(dn, escape=False, strip=True)
    except LDAPException:
        return dn.strip().lower()
    return ",".join(f"{kind.lower()}={value.lower()}" for kind, value, _ in parts)


class LdapDirectory:
    """The directory named in the settings (``LDAP_URL``, its TLS, its service account)."""

    def __init__(self, settings: Settings) -> None:
        if settings.ldap_url is None or settings.ldap_bind_password is None:
            raise ValueError("no directory configured (SILENT_ALARM_LDAP_URL)")
        self._settings = settings
        self._url = settings.ldap_url
        self._start_tls = settings.ldap_start_tls
        self._password = settings.ldap_bind_password
        self.group_roles = settings.ldap_group_roles
        self.group_sites = settings.ldap_group_sites
        url = urlsplit(settings.ldap_url)
        self.address = f"{url.scheme}://{url.hostname}:{url.port or ''}".rstrip(":")
        self._tls = (
            Tls(
                validate=ssl.CERT_REQUIRED,  # ldap3's default is CERT_NONE: never that
                ca_certs_file=str(settings.ldap_ca_file) if settings.ldap_ca_file else None,
            )
            if url.scheme.lower() == "ldaps" or settings.ldap_start_tls
            else None
        )

    def _server(self) -> Server:
        """A fresh server object per connection: ldap3 marks an address it could not reach
        as unavailable for good in the object, and the directory may come back."""
        return Server(
            self._url,
            use_ssl=self._url.lower().startswith("ldaps://"),
            tls=self._tls,
            connect_timeout=self._settings.ldap_timeout,
            get_info=NONE,  # no schema read at connect: one round trip less
        )

    # --- what the hub asks -------------------------------------------------------------

    def find_user(self, login: str) -> DirectoryUser | None:
        """The one user with this login name, or None (none, several, or an unusable name)."""
        s = self._settings
        if not login or len(login) > 256:
            return None
        wanted = f"(&{s.ldap_user_filter}({s.ldap_login_attribute}={escape_filter_chars(login)}))"
        attributes = [s.ldap_login_attribute, s.ldap_display_name_attribute]
        with self._service() as connection:
            found = self._search(connection, s.ldap_user_base, wanted, attributes)
            if len(found) != 1:
                return None  # unknown, or ambiguous: never guess which account is meant
            dn, values = found[0]
            disabled = bool(
                s.ldap_disabled_filter
                and self._search(connection, dn, s.ldap_disabled_filter, NO_ATTRIBUTES, BASE)
            )
            group_filter = s.ldap_group_filter.replace("{user_dn}", escape_filter_chars(dn))
            groups = self._search(
                connection, s.ldap_group_base or s.ldap_user_base, group_filter, NO_ATTRIBUTES
            )
        return DirectoryUser(
            dn=dn,
            login=_first(values, s.ldap_login_attribute) or login,
            display_name=_first(values, s.ldap_display_name_attribute) or login,
            disabled=disabled,
            groups=frozenset(normal_dn(group) for group, _ in groups),
        )

    def password_matches(self, user: DirectoryUser, password: str) -> bool:
        """Whether the directory accepts ``password`` for ``user`` (a bind as them)."""
        if not password:
            return False  # an empty password is an anonymous bind, which "succeeds"
        connection = self._connection(user.dn, password)
        try:
            self._open(connection)
            if connection.bind():
                return True
            if connection.result.get("result") == INVALID_CREDENTIALS:
                return False
            raise DirectoryUnavailable(f"bind refused: {connection.result.get('description')}")
        except LDAPException as error:
            raise DirectoryUnavailable(_reason(error)) from None
        finally:
            _close(connection)

    def computers(self) -> list[DirectoryComputer]:
        """Every computer entry with its host name and room attribute ('' when unset)."""
        s = self._settings
        attributes = [s.ldap_computer_name_attribute, s.ldap_computer_room_attribute]
        with self._service() as connection:
            found = self._search(
                connection,
                s.ldap_computer_base or s.ldap_user_base,
                s.ldap_computer_filter,
                attributes,
            )
        return sorted(
            (
                DirectoryComputer(
                    dn=dn,
                    hostname=_first(values, s.ldap_computer_name_attribute),
                    room=_first(values, s.ldap_computer_room_attribute),
                )
                for dn, values in found
            ),
            key=lambda computer: computer.dn.lower(),
        )

    # --- connections ------------------------------------------------------------------

    def _connection(self, user: str, password: str) -> Connection:
        return Connection(
            self._server(),
            user=user,
            password=password,
            read_only=True,
            auto_referrals=False,  # AD's referrals to other partitions would hang a search
            # ldap3 packs it into SO_RCVTIMEO as whole seconds: an int, at least 1.
            receive_timeout=max(1, math.ceil(self._settings.ldap_timeout)),
            raise_exceptions=False,
        )

    def _open(self, connection: Connection) -> None:
        connection.open()
        if self._start_tls and not connection.start_tls():
            raise DirectoryUnavailable("StartTLS refused")

    def _service(self) -> _ServiceBind:
        return _ServiceBind(self)

    def _bound_service(self) -> Connection:
        connection = self._connection(
            self._settings.ldap_bind_dn, self._password.get_secret_value()
        )
        try:
            self._open(connection)
            if not connection.bind():
                raise DirectoryUnavailable(
                    f"service account refused: {connection.result.get('description')}"
                )
        except LDAPException as error:
            _close(connection)
            raise DirectoryUnavailable(_reason(error)) from None
        except DirectoryUnavailable:
            _close(connection)
            raise
        return connection

    @staticmethod
    def _search(
        connection: Connection,
        base: str,
        search_filter: str,
        attributes: list[str] | str,
        scope: Literal["BASE", "LEVEL", "SUBTREE"] = SUBTREE,
    ) -> list[tuple[str, dict[str, object]]]:
        try:
            connection.search(base, search_filter, search_scope=scope, attributes=attributes)
        except LDAPException as error:
            raise DirectoryUnavailable(_reason(error)) from None
        code = connection.result.get("result")
        if code == 32:  # noSuchObject: the base (or the BASE entry) does not exist
            return []
        if code not in (0, None):
            raise DirectoryUnavailable(f"search failed: {connection.result.get('description')}")
        return [
            (str(item["dn"]), dict(item.get("attributes", {})))
            for item in connection.response or []
            if item.get("type") == "searchResEntry"
        ]


class _ServiceBind:
    """A connection bound as the service account for the length of a ``with``."""

    def __init__(self, directory: LdapDirectory) -> None:
        self._directory = directory
        self._connection: Connection | None = None

    def __enter__(self) -> Connection:
        self._connection = self._directory._bound_service()
        return self._connection

    def __exit__(self, *_: object) -> None:
        if self._connection is not None:
            _close(self._connection)


def _close(connection: Connection) -> None:
    """Unbinds and closes the socket: ldap3 leaves the socket of a failed connect open."""
    with contextlib.suppress(LDAPException, OSError):
        connection.unbind()
    if connection.socket is not None:
        connection.socket.close()


def _first(values: dict[str, object], attribute: str) -> str:
    """The attribute's first value as text ('' when absent); attribute names in any case."""
    for name, value in values.items():
        if name.lower() == attribute.lower():
            if isinstance(value, list):
                return str(value[0]) if value else ""
            return "" if value is None else str(value)
    return ""


def _reason(error: Exception) -> str:
    """The library's words, first line only (never a password: ldap3 does not put it there)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
