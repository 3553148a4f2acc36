"""JSON-lines logging to stdout for the hub: one event per line, never a secret."""

from __future__ import annotations

import logging
import sys

import structlog

CONNECTION_LOGGER = "dispatch.net.connection"
"""uvicorn's and websockets' per-connection protocol objects log here (net/connection.py)."""


def configure(level: str = "info") -> None:
    """JSON lines from ``level`` up (the LOG_LEVEL setting: debug, info, warning, error)."""
    _skip_unused_record_fields()
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    # uvicorn's and alembic's stdlib records come out as the same JSON lines.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Access lines add nothing the hub's own events don't say.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.error").addFilter(_per_connection_noise)
    # Their INFO lines come for every WebSocket opened, accepted, refused and closed:
    # below WARNING no record is even built, which a filter (the line above, for
    # servers run without the hub's protocol classes) cannot spare.
    connection = logging.getLogger(CONNECTION_LOGGER)
    connection.setLevel(logging.WARNING)
    connection.addFilter(_per_connection_noise)


def _skip_unused_record_fields() -> None:
    """Records without caller, thread and process: the JSON lines never show them.

    Each costs a lookup per record (the caller walks the stack); ten thousand
    agents reconnecting log two lines each. The flags are the ones the logging
    HOWTO lists under "Optimization".
    """
    logging._srcfile = None  # the HOWTO's way to skip findCaller
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


PER_CONNECTION_LINES = frozenset(
    {
        '%s - "WebSocket %s" [accepted]',
        '%s - "WebSocket %s" %d',
        '%s - "WebSocket %s" 403',
        "connection open",
        "connection closed",
        "connection rejected (%d %s)",
        # uvicorn says this of a WebSocket denial response (our 503 in a restart
        # storm, dispatch/net/admission.py) although the response went out.
        "ASGI callable returned without completing handshake.",
    }
)


def _per_connection_noise(record: logging.LogRecord) -> bool:
    """uvicorn's and websockets' lines for every WebSocket opened or refused.

    The hub logs its own events for these (agent_connected, agent_refused,
    handshakes_refused as a count); ten thousand agents reconnecting would
    otherwise write tens of thousands of lines and slow every handshake.
    """
    return record.msg not in PER_CONNECTION_LINES
