"""A bounded schemathesis run over every /api/v1 route of a real hub: no answer is a 5xx.

Each operation of the hub's OpenAPI schema is one test, run twice: with an
admin's session (cookie and CSRF header) and anonymously. The run is
deterministic (a fixed seed, derandomized Hypothesis) and capped per operation
(about 2,500 requests, docs/security.md has the time), so it finds the same
thing every time; the only check
is schemathesis' ``not_a_server_error``. A failure names the operation in the
test id and shows the request that got the 5xx.

The console's HTML pages (/login, /logout, /console, /admin/…) are not in the
schema; their id parameter is held by tests/api/test_number_bounds.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any, cast

import hypothesis
import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from dispatch.app import create_app
from dispatch.settings import Settings
from tests.support.hub import RunningHub, start_demo_hub
from tests.support.login import SESSION_COOKIE
from tests.support.operators import ADMIN, API, add_operator, api_client

Test = Callable[..., Any]
Case = schemathesis.Case[Any]

SEED = 15  # issue 15: the run is the same on every machine and every time
EXAMPLES_PER_OPERATION = 6  # the fuzzing phase's cap; the coverage phase adds its boundary cases


def _schema(coverage: bool) -> schemathesis.BaseSchema:
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            # The run is bounded by its example counts; a busy machine must not fail it.
            "suppress-health-check": ["too_slow"],
            "generation": {
                "deterministic": True,
                "max-examples": EXAMPLES_PER_OPERATION,
                "database": "none",  # a run must not depend on what an earlier run found
            },
            "phases": {
                # Boundary values per parameter (0, one past the maximum, wrong types,
                # missing fields); no unlisted methods, which Starlette answers 405 before
                # any of the hub's code runs.
                "coverage": {"enabled": coverage, "unexpected-methods": []},
                "stateful": {"enabled": False},
            },
            "checks": {"enabled": False, "not_a_server_error": {"enabled": True}},
        }
    )
    raw = create_app(Settings(session_secret="x" * 40)).openapi()
    return schemathesis.openapi.from_dict(raw, config=config)


ADMIN_SCHEMA = _schema(coverage=True)
# Without a session every route but /enrol answers 401 before it validates its parameters,
# so the anonymous run skips the boundary values; /enrol gets them in the admin run (it
# ignores the session) and random bodies here.
ANONYMOUS_SCHEMA = _schema(coverage=False)


def _parametrize(schema: schemathesis.BaseSchema) -> Callable[[Test], Test]:
    """One test per operation of ``schema`` (the decorator schemathesis returns is untyped)."""
    return cast(Callable[[Test], Test], schema.parametrize())


ENDS_OWN_SESSION = ("PATCH", f"{API}/operators/{{operator_id}}")
"""A new password, role, site list or "disabled" for the fuzzing admin itself would end the
session the run uses (docs/security.md: sessions end at once); other operators are fuzzed."""


@pytest.fixture(scope="module")
def fuzz_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """A hub of its own with a fresh database: the run creates and deletes freely.

    The failed-enrolment limit (10 a minute per address) would answer /enrol 429 after ten
    tries; the hub believes 127.0.0.1 as a proxy here, so each case comes from its own
    X-Forwarded-For address and reaches the enrolment itself.
    """
    hub = start_demo_hub(
        tmp_path_factory.mktemp("fuzz"), env={"SILENT_ALARM_TRUSTED_PROXIES": '["127.0.0.1"]'}
    )
    add_operator(hub, *ADMIN, "admin")
    yield hub
    hub.stop()


class Caller:
    """Sends a case to the hub, as the admin or anonymously, each from its own address."""

    def __init__(self, hub: RunningHub, headers: dict[str, str], admin_id: int | None) -> None:
        self.hub = hub
        self.headers = headers
        self.admin_id = admin_id
        self.addresses = (f"10.15.{n // 250}.{n % 250 + 1}" for n in itertools.count())
        self.session = requests.Session()

    def check(self, case: Case) -> None:
        headers = {**self.headers, "X-Forwarded-For": next(self.addresses)}
        response = case.call(base_url=self.hub.url, session=self.session, headers=headers)
        case.validate_response(response, checks=[not_a_server_error], headers=headers)
        if self.admin_id is not None:
            assert response.status_code != 401, "the admin's session ended during the run"


@pytest.fixture(scope="module")
def as_admin(fuzz_hub: RunningHub) -> Iterator[Caller]:
    with api_client(fuzz_hub, *ADMIN) as client:
        session = client.get(f"{API}/session").json()
        headers = {
            "Cookie": f"{SESSION_COOKIE}={client.cookies[SESSION_COOKIE]}",
            "X-CSRF-Token": client.headers["X-CSRF-Token"],
        }
        caller = Caller(fuzz_hub, headers, session["operator_id"])
        yield caller
        caller.session.close()


@pytest.fixture(scope="module")
def anonymous(fuzz_hub: RunningHub) -> Iterator[Caller]:
    caller = Caller(fuzz_hub, {}, None)
    yield caller
    caller.session.close()


@_parametrize(ADMIN_SCHEMA)
def test_admin_gets_no_server_error(case: Case, as_admin: Caller) -> None:
    if (case.method, case.path) == ENDS_OWN_SESSION:
        hypothesis.assume(case.path_parameters.get("operator_id") != as_admin.admin_id)
    as_admin.check(case)


@_parametrize(ANONYMOUS_SCHEMA)
def test_anonymous_gets_no_server_error(case: Case, anonymous: Caller) -> None:
    anonymous.check(case)


def test_every_route_is_fuzzed() -> None:
    """The schema the run works from holds every /api/v1 route, the anonymous /enrol too."""
    paths = set()
    for result in ADMIN_SCHEMA.get_all_operations():
        assert isinstance(result, Ok), result
        paths.add((result.ok().method.upper(), result.ok().path))
    assert ("POST", f"{API}/enrol") in paths
    assert ENDS_OWN_SESSION in paths
    assert len(paths) >= 40
