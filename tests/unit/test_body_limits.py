"""Each route's body limit (dispatch/web/body_limits.py); the 413 itself is proven against
the real hub in tests/integration/test_lan_bodies.py."""

from __future__ import annotations

from dispatch.directory import room_mapping
from dispatch.web.api import floorplans
from dispatch.web.body_limits import (
    ANONYMOUS_MAX_BODY,
    DEFAULT_MAX_BODY,
    MULTIPART_MARGIN,
    limit_for,
    too_large_response,
)
from dispatch.web.validation_errors import without_inputs


def test_uploads_keep_their_larger_limits() -> None:
    assert limit_for("PUT", "/api/v1/floors/3/plan") == floorplans.MAX_PLAN_BYTES + MULTIPART_MARGIN
    assert (
        limit_for("POST", "/api/v1/workstations/import")
        == room_mapping.MAX_BYTES + MULTIPART_MARGIN
    )


def test_anonymous_routes_get_the_smallest_limit() -> None:
    assert limit_for("POST", "/api/v1/enrol") == ANONYMOUS_MAX_BODY
    assert limit_for("POST", "/login") == ANONYMOUS_MAX_BODY
    acknowledge = "/api/v1/webpush/alarms/0b8e2c1a-4f3e-4c56-9d7a-1f2e3d4c5b6a/acknowledge"
    assert limit_for("POST", acknowledge) == ANONYMOUS_MAX_BODY


def test_every_other_route_gets_the_default() -> None:
    assert limit_for("POST", "/api/v1/floors/3/plan") == DEFAULT_MAX_BODY  # not the upload
    assert limit_for("PUT", "/api/v1/policies/1/2") == DEFAULT_MAX_BODY


def test_the_413_names_the_limit_and_closes() -> None:
    start, body = too_large_response(16384)
    assert start["status"] == 413
    assert (b"connection", b"close") in start["headers"]
    assert b"16384" in body["body"]


def test_validation_errors_keep_where_and_what_but_not_the_value() -> None:
    errors = [{"type": "string_too_long", "loc": ("body", "code"), "msg": "too long",
               "input": "s3cret", "ctx": {"max_length": 64}}]  # fmt: skip
    assert without_inputs(errors) == [
        {"type": "string_too_long", "loc": ("body", "code"), "msg": "too long",
         "ctx": {"max_length": 64}}  # the rule's bound, for "höchstens 64 Zeichen"
    ]  # fmt: skip


def test_only_the_rules_bounds_survive_from_the_context() -> None:
    """A custom validator's error (ctx "error") may quote the input; it never goes back."""
    errors = [
        {"type": "value_error", "loc": ("body", "x"), "msg": "Value error, bad s3cret",
         "input": "s3cret", "ctx": {"error": "bad s3cret"}},
        {"type": "enum", "loc": ("body", "role"), "msg": "Input should be …",
         "input": "s3cret", "ctx": {"expected": "'guard' or 'admin'"}},
    ]  # fmt: skip
    kept = without_inputs(errors)
    assert "ctx" not in kept[0]
    assert kept[1]["ctx"] == {"expected": "'guard' or 'admin'"}
