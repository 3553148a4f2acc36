"""libpq's multi-host database URL: read by the hub's settings, the pool and the bus alike."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from dispatch.net.bus import asyncpg_dsn
from dispatch.settings import Settings
from dispatch.store.postgres_hosts import HostListError, libpq_form, sqlalchemy_form

LIBPQ = (
    "postgresql+asyncpg://alarm:s3cret@db1:5432,db2:5433/dispatch?target_session_attrs=read-write"
)
SQLALCHEMY = (
    "postgresql+asyncpg://alarm:s3cret@/dispatch"
    "?host=db1:5432&host=db2:5433&target_session_attrs=read-write"
)


def test_the_libpq_host_list_becomes_sqlalchemys_host_arguments() -> None:
    assert sqlalchemy_form(LIBPQ) == SQLALCHEMY


def test_a_host_without_a_port_gets_libpqs_default() -> None:
    converted = sqlalchemy_form("postgresql+asyncpg://alarm@db1,db2:6432/dispatch")
    assert converted == "postgresql+asyncpg://alarm@/dispatch?host=db1:5432&host=db2:6432"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://alarm:s3cret@db1:5432/dispatch",
        SQLALCHEMY,  # written in SQLAlchemy's own form: taken as it is
        "sqlite+aiosqlite:///var/dispatch.sqlite3",
    ],
)
def test_other_urls_are_left_alone(url: str) -> None:
    assert sqlalchemy_form(url) == url


def test_the_pool_connects_to_every_host_in_turn_with_the_session_attribute() -> None:
    engine = create_async_engine(sqlalchemy_form(LIBPQ))  # connects to nothing until used
    _, options = engine.dialect.create_connect_args(engine.url)
    assert options["host"] == ["db1", "db2"]
    assert options["port"] == [5432, 5433]
    assert options["target_session_attrs"] == "read-write"


def test_the_bus_gets_the_host_list_where_asyncpg_reads_it() -> None:
    # asyncpg keeps only the last of repeated host= arguments: the list goes in the authority.
    expected = (
        "postgresql://alarm:s3cret@db1:5432,db2:5433/dispatch?target_session_attrs=read-write"
    )
    assert asyncpg_dsn(SQLALCHEMY) == expected
    assert libpq_form(make_url("postgresql+asyncpg:///dispatch?host=a:1&host=b:2")) == (
        "postgresql://a:1,b:2/dispatch"
    )


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("postgresql+asyncpg://alarm:s3cret@[::1]:5432,db2/dispatch", "name or IPv4"),
        ("postgresql+asyncpg://alarm:s3cret@db1:99999,db2/dispatch", "not a TCP port"),
        ("postgresql+asyncpg://alarm:s3cret@db1:x,db2/dispatch", "not a TCP port"),
        ("postgresql+asyncpg://alarm:s3cret@db1,db2/dispatch?host=db3:5432", "names hosts twice"),
    ],
)
def test_a_bad_host_list_refuses_to_start_without_repeating_the_url(
    url: str, complaint: str
) -> None:
    with pytest.raises(HostListError, match=complaint) as refused:
        sqlalchemy_form(url)
    assert "s3cret" not in str(refused.value)
    with pytest.raises(ValidationError) as invalid:
        Settings(database_url=url)
    message = invalid.value.errors()[0]["msg"]
    assert complaint in message
    assert "s3cret" not in message


def test_the_settings_hand_every_consumer_sqlalchemys_form() -> None:
    assert Settings(database_url=LIBPQ).resolved_database_url == SQLALCHEMY
