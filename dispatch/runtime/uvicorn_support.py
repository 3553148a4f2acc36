"""The uvicorn the hub's WebSocket layer is written against; with another the hub refuses to start.

``dispatch/net/connection.py`` subclasses uvicorn's HTTP protocol and its sans-I/O
WebSocket protocol and takes over the latter's keepalive. uvicorn 0.30–0.34 has no
sans-I/O protocol (the import fails with a traceback), 0.35–0.43 has it without the
server-side pings (``start_keepalive``): the hub started, and a dead agent was never
noticed. 0.44 is the first that has everything. The check looks for what the hub
uses rather than trusting a version number, and runs before anything imports it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys

MINIMUM = "0.44"
"""The first uvicorn with everything below (pyproject.toml says the same)."""

USED: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "uvicorn.protocols.websockets.websockets_sansio_impl",
        "WebSocketsSansIOProtocol",
        ("handle_connect", "start_keepalive", "stop_keepalive"),
    ),
    (
        "uvicorn.protocols.http.httptools_impl",
        "HttpToolsProtocol",
        ("handle_websocket_upgrade", "on_headers_complete", "on_message_begin"),
    ),
)
"""Module, class and the methods of it that dispatch/net/connection.py overrides or calls."""


def problems(used: tuple[tuple[str, str, tuple[str, ...]], ...] = USED) -> list[str]:
    """What the installed uvicorn lacks of what the hub uses ([]: nothing)."""
    found = []
    for module_name, class_name, methods in used:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            found.append(f"no module {module_name}")
            continue
        cls = getattr(module, class_name, None)
        if cls is None:
            found.append(f"no {module_name}.{class_name}")
            continue
        found += [f"no {class_name}.{name}" for name in methods if not hasattr(cls, name)]
    return found


def refuse_unsupported_uvicorn() -> None:
    """One line on stderr and exit code 2 when the installed uvicorn cannot run the hub."""
    missing = problems()
    if not missing:
        return
    try:
        version = importlib.metadata.version("uvicorn")
    except importlib.metadata.PackageNotFoundError:
        version = "(not installed)"
    sys.stderr.write(
        f"silent-alarm-dispatch: uvicorn {version} cannot run the hub ({'; '.join(missing)}); "
        f"install uvicorn >= {MINIMUM}, e.g. with the project's constraints.txt\n"
    )
    raise SystemExit(2)
