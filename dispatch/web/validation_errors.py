"""422 answers that say what is wrong and where, never what was sent.

FastAPI's default handler puts each error's ``input`` (and ``ctx``) into the
answer: a bad 200 MB field came back as 839 MB, and a mistyped password or
token would be echoed to whoever reads the response. This handler keeps the
location, the message and the error type, plus the rule's own bounds from
``ctx`` (numbers such as ``le``, and ``expected``: the allowed values), which
the admin pages need to say "Bitte eine Zahl bis höchstens 300 eingeben." and
which come from the schema, never from the request.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

KEPT_FIELDS = ("type", "loc", "msg")


SCHEMA_TEXT_CONTEXT = frozenset({"expected"})
"""Context entries that are text from the schema (the allowed values), not the input."""


def without_inputs(errors: Any) -> list[dict[str, Any]]:
    """Each validation error reduced to its type, location, message and the rule's bounds."""
    kept = []
    for error in errors:
        answer = {key: error[key] for key in KEPT_FIELDS if key in error}
        bounds = _bounds(error.get("ctx") or {})
        if bounds:
            answer["ctx"] = bounds
        kept.append(answer)
    return kept


def _bounds(context: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value
        for key, value in context.items()
        if (isinstance(value, int | float) and not isinstance(value, bool))
        or (key in SCHEMA_TEXT_CONTEXT and isinstance(value, str))
    }


async def validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return JSONResponse({"detail": without_inputs(error.errors())}, status_code=422)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
