"""libpq's multi-host database URLs in the two spellings that SQLAlchemy and asyncpg each read.

An admin writes what libpq, psql and Patroni's documentation write:
``postgresql+asyncpg://user@db1:5432,db2:5432/dispatch?target_session_attrs=read-write``.
SQLAlchemy 2.x cannot parse a host list in that place (it reads ``5432,db2:5432`` as
the port) and takes the hosts as repeated ``host=db1:5432&host=db2:5432`` query
arguments instead; asyncpg, which the bus connects with directly, reads the libpq
form but keeps only the last of repeated ``host`` arguments. So the hub turns the
libpq form into SQLAlchemy's when it reads its settings (``sqlalchemy_form``), and
back into libpq's for asyncpg (``libpq_form``).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit

from sqlalchemy.engine import URL

DEFAULT_PORT = 5432
_HOST = re.compile(r"[A-Za-z0-9.\-]+")  # names and IPv4: SQLAlchemy splits host:port on ":"


class HostListError(ValueError):
    """A multi-host URL the hub cannot read; the message never repeats the URL (a password)."""


def sqlalchemy_form(url: str) -> str:
    """``…@h1:p1,h2:p2/db?…`` → ``…@/db?host=h1:p1&host=h2:p2&…``; any other URL unchanged."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgresql"):
        return url
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    if "," not in hostlist:
        return url
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(key in ("host", "port") for key, _ in query):
        raise HostListError(
            "the database URL names hosts twice: list them before the database name "
            "or as host= arguments, not both"
        )
    hosts = [("host", _host_and_port(entry)) for entry in hostlist.split(",")]
    at = f"{userinfo}@" if userinfo else ""
    return f"{parts.scheme}://{at}{parts.path}?{urlencode(hosts + query, safe=':')}"


def _host_and_port(entry: str) -> str:
    host, colon, port = entry.partition(":")
    if not _HOST.fullmatch(host):
        raise HostListError(
            "each host of a multi-host database URL is a name or IPv4 address "
            "(IPv6 literals: use a name)"
        )
    if not colon:
        return f"{host}:{DEFAULT_PORT}"  # libpq's default for a host without its own port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise HostListError("a port in the database URL's host list is not a TCP port number")
    return f"{host}:{int(port)}"


def host_list(url: URL) -> list[tuple[str, int]] | None:
    """The ``host=h:p`` arguments of a SQLAlchemy URL, or None for a URL with one host."""
    hosts = url.query.get("host")
    if not isinstance(hosts, tuple):
        return None
    pairs = [entry.rpartition(":") for entry in hosts]
    return [(host, int(port)) for host, _, port in pairs]


def libpq_form(url: URL) -> str:
    """A SQLAlchemy URL as libpq's (and asyncpg's) ``postgresql://…`` string, host list
    in the authority: asyncpg keeps only the last of repeated ``host=`` arguments."""
    plain = url.set(drivername="postgresql")
    hosts = host_list(url)
    if hosts is None:
        return plain.render_as_string(hide_password=False)
    rest = {key: value for key, value in url.query.items() if key != "host"}
    rendered = plain.set(host=None, port=None, query=rest).render_as_string(hide_password=False)
    # Without a host the authority is only "user:password@" (both quoted by SQLAlchemy),
    # ending at the path's "/": the host list goes there.
    scheme, _, after = rendered.partition("://")
    authority, slash, path = after.partition("/")
    hostlist = ",".join(f"{host}:{port}" for host, port in hosts)
    return f"{scheme}://{authority}{hostlist}{slash}{path}"
