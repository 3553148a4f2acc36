"""``silent-alarm-agent enrol``: trade a one-time code for this PC's identity and write the config.

Stdlib only (urllib): the agent does not depend on an HTTP client library.
The config is written atomically (temporary file, fsync, rename) with mode
0600, and an existing one is only replaced with ``--force``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from agent.secret_store import protect

ENROL_PATH = "/api/v1/enrol"
AGENT_WS_PATH = "/ws/agent"
TIMEOUT_S = 15.0


class EnrolError(Exception):
    """Enrolment failed; the message is one line for the admin (never the code or secret)."""


@dataclass(frozen=True)
class Enrolment:
    workstation_id: str
    secret: str
    state: str


def _base(hub_url: str) -> urllib.parse.SplitResult:
    parts = urllib.parse.urlsplit(hub_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise EnrolError(f"--hub must be an http:// or https:// URL, not {hub_url!r}")
    return parts


def enrol_url(hub_url: str) -> str:
    parts = _base(hub_url)
    return urllib.parse.urlunsplit(
        (parts.scheme, parts.netloc, parts.path.rstrip("/") + ENROL_PATH, "", "")
    )


def agent_ws_url(hub_url: str) -> str:
    """http://host:port[/prefix] -> ws://host:port[/prefix]/ws/agent (https -> wss)."""
    parts = _base(hub_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urllib.parse.urlunsplit(
        (scheme, parts.netloc, parts.path.rstrip("/") + AGENT_WS_PATH, "", "")
    )


def request_enrolment(
    hub_url: str, code: str, hostname: str, agent_version: str, timeout: float = TIMEOUT_S
) -> Enrolment:
    body = json.dumps({"code": code, "hostname": hostname, "agent_version": agent_version}).encode(
        "utf-8"
    )
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked to be http(s)
        enrol_url(hub_url),
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            answer = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        raise EnrolError(f"hub answered {error.code}: {_detail(error)}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise EnrolError(f"hub {hub_url} unreachable: {reason}") from None
    except ValueError:
        raise EnrolError("hub answered something that is not JSON") from None
    try:
        return Enrolment(
            workstation_id=str(answer["workstation_id"]),
            secret=str(answer["secret"]),
            state=str(answer.get("state", "")),
        )
    except (KeyError, TypeError):
        raise EnrolError("hub answer lacks workstation_id or secret") from None


def _detail(error: urllib.error.HTTPError) -> str:
    try:
        detail = json.loads(error.read().decode("utf-8")).get("detail")
    except (ValueError, AttributeError, OSError):
        detail = None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        first = detail[0]
        where = ".".join(str(p) for p in first.get("loc", [])[1:])
        return f"{where}: {first.get('msg', 'invalid')}"
    return error.reason or "error"


def render_config(hub_ws_url: str, workstation_id: str, secret: str) -> str:
    """The agent's TOML (docs/agent.md); JSON strings and arrays are valid TOML values."""
    values: dict[str, object] = {
        "hub_urls": [hub_ws_url],
        "workstation_id": workstation_id,
        "token": protect(secret),  # sealed with DPAPI on Windows
    }
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def enrol(
    hub_url: str,
    code: str,
    config_path: Path,
    hostname: str | None = None,
    force: bool = False,
    agent_version: str | None = None,
) -> Enrolment:
    """Enrols and writes the config; the config folder is checked before the code is spent."""
    from agent import __version__

    version = agent_version or __version__
    hostname = hostname or socket.gethostname()
    agent_ws_url(hub_url)  # a bad URL fails before anything else
    if config_path.exists() and not force:
        raise EnrolError(f"config {str(config_path)!r} exists; pass --force to replace it")
    folder = config_path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(prefix=f".{config_path.name}.", dir=folder)
    except OSError as error:
        raise EnrolError(f"cannot write the config in {str(folder)!r}: {error.strerror}") from None
    temp = Path(temp_name)
    try:
        os.chmod(temp, 0o600)  # mkstemp creates 0600 already; explicit for the record
        enrolment = request_enrolment(hub_url, code, hostname, version)
        text = render_config(agent_ws_url(hub_url), enrolment.workstation_id, enrolment.secret)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            fd = -1
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, config_path)
        _fsync_dir(folder)
    except OSError as error:
        raise EnrolError(
            f"cannot write the config {str(config_path)!r}: {error.strerror}"
        ) from None
    finally:
        if fd != -1:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    return enrolment
