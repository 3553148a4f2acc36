"""``silent-alarm-agent enrol``: trade a one-time code for this PC's identity and write the config.

Stdlib only (urllib): the agent does not depend on an HTTP client library.
The config is written atomically (temporary file, fsync, rename) with the
target's mode (agent/enrol_target.py: 0644 for every user's agent, 0600 for one
user's), and an existing one that holds settings is only replaced with ``--force``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import tempfile
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from agent.enrol_target import Target
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


def _holds_settings(path: Path) -> bool:
    """False for a file without a single key (the wrapper creates the user file empty)."""
    try:
        with path.open("rb") as handle:
            return bool(tomllib.load(handle))
    except (OSError, tomllib.TOMLDecodeError):
        return True  # not ours to judge: only --force replaces it


def _prepare_folder(folder: Path, shared: bool) -> None:
    """Creates the folder; a shared one must let every user's agent in (root's umask may not)."""
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    if not shared or os.name != "posix":
        return
    if created:
        os.chmod(folder, 0o755)  # noqa: S103 - every desktop user's agent reads in it
    mode = stat.S_IMODE(folder.stat().st_mode)
    if mode & 0o005 != 0o005:
        raise EnrolError(
            f"folder {str(folder)!r} is mode {mode:04o}: the agent of every user must read it"
            " (chmod 0755)"
        )


def enrol(
    hub_url: str,
    code: str,
    target: Target | Path,
    hostname: str | None = None,
    force: bool = False,
    agent_version: str | None = None,
) -> Enrolment:
    """Enrols and writes the config; the config folder is checked before the code is spent."""
    from agent import __version__

    if isinstance(target, Path):
        target = Target(target, shared=False)
    config_path = target.path
    version = agent_version or __version__
    hostname = hostname or socket.gethostname()
    agent_ws_url(hub_url)  # a bad URL fails before anything else
    if config_path.exists() and not force and _holds_settings(config_path):
        raise EnrolError(f"config {str(config_path)!r} exists; pass --force to replace it")
    folder = config_path.parent
    try:
        _prepare_folder(folder, target.shared)
        fd, temp_name = tempfile.mkstemp(prefix=f".{config_path.name}.", dir=folder)
    except OSError as error:
        raise EnrolError(f"cannot write the config in {str(folder)!r}: {error.strerror}") from None
    temp = Path(temp_name)
    try:
        os.chmod(temp, target.mode)  # set explicitly: the umask must not decide who reads it
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
