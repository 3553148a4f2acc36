"""422 answers that say what is wrong and where, never what was sent.

FastAPI's default handler puts each error's ``input`` (and ``ctx``) into the
answer: a bad 200 MB field came back as 839 MB, and a mistyped password or
token would be echoed to whoever reads the response. This handler keeps the
location, the message and the error type only.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

KEPT_FIELDS = ("type", "loc", "msg")


def without_inputs(errors: Any) -> list[dict[str, Any]]:
    """Each validation error reduced to its type, location and message."""
    return [{key: error[key] for key in KEPT_FIELDS if key in error} for error in errors]


async def validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return JSONResponse({"detail": without_inputs(error.errors())}, status_code=422)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
