"""A failed send as one line for the console, the log and the queue row, without a secret."""

from __future__ import annotations

import re

MAX_REASON = 200
_URL_CREDENTIALS = re.compile(r"(\w+://)[^/@\s]+@")
_QUERY = re.compile(r"\?\S*")


def one_line(error: BaseException, what: str) -> str:
    """``what: ErrorType: first line``, cut to 200 characters.

    URLs lose their user:password part and their query (gateways put tokens there);
    the settings' secrets themselves never reach an exception's text: they travel in
    headers and the SMTP login, which no error message repeats.
    """
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = _QUERY.sub("?…", _URL_CREDENTIALS.sub(r"\1…@", text))
    reason = f"{what}: {type(error).__name__}" + (f": {text}" if text else "")
    return reason[:MAX_REASON]
