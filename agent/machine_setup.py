"""``machine-config``: an installer's settings for every user of the PC, and its one enrolment.

The MSI runs it as SYSTEM with its public properties (``HUBURL``, ``AGENTLANGUAGE``,
``PEERPORT``, ``ENROLLCODE``; installers/windows/silent-alarm-agent.wxs). The settings go
to ``60-msi.toml`` in the machine folder, after the enrolment drop-in
(``50-enrolment.toml``) so the admin's list of hubs beats the one hub enrolment names.
Only the keys given are replaced: an upgrade without properties keeps what the first
installation wrote. An enrolment code is redeemed once per PC: a PC that holds an
identity already keeps it and leaves the code unspent.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.config import ConfigError, Layer, merge_layers, read_toml
from agent.enrol import AGENT_WS_PATH, EnrolError, enrol
from agent.enrol_target import ENROLMENT_FILE, SHARED_MODE, Target

MSI_FILE = "60-msi.toml"
# Stand-ins for the keys enrolment supplies, so one key can be checked on its own.
_REQUIRED_STAND_INS = {
    "hub_urls": ["wss://hub.invalid/ws/agent"],
    "workstation_id": "check",
    "token": "check",
}


@dataclass(frozen=True)
class MachineResult:
    path: Path
    enrolled_as: str | None  # None: no code given, or the PC was enrolled before
    already_enrolled: bool


def given_settings(hub_urls: str, language: str, peer_port: str) -> dict[str, Any]:
    """The installer's properties as config keys; an empty property is not given."""
    values: dict[str, Any] = {}
    urls = [url for url in re.split(r"[\s;,]+", hub_urls) if url]
    if urls:
        values["hub_urls"] = urls
    if language.strip():
        values["language"] = language.strip()
    if peer_port.strip():
        try:
            values["peer_port"] = int(peer_port)
        except ValueError:
            raise ConfigError(f"config key 'peer_port': {peer_port!r} is not a number") from None
    return values


def enrolment_hub(ws_url: str) -> str:
    """wss://host[/prefix]/ws/agent -> https://host[/prefix], the address ``enrol`` posts to."""
    parts = urllib.parse.urlsplit(ws_url)
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme)
    if scheme is None or not parts.path.endswith(AGENT_WS_PATH):
        raise EnrolError(f"hub URL {ws_url!r} does not end in {AGENT_WS_PATH}: cannot enrol there")
    prefix = parts.path.removesuffix(AGENT_WS_PATH)
    return urllib.parse.urlunsplit((scheme, parts.netloc, prefix, "", ""))


def _write(path: Path, values: dict[str, Any]) -> None:
    """Atomically, mode 0644 on Linux; on Windows the folder's ACL (the MSI's) is inherited."""
    text = "# Written by the installer (silent-alarm-agent machine-config); kept on upgrade.\n"
    text += "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        if os.name == "posix":
            os.chmod(temp_name, SHARED_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)


def write_machine_config(
    folder: Path, given: dict[str, Any], enrol_code: str = ""
) -> MachineResult:
    """Enrols once if a code is given, then merges ``given`` into the installer's file.

    Every value is checked before anything is written or a code is spent; a bad one
    raises ConfigError naming the key (a refused code: EnrolError), and the files stay
    as they were.
    """
    path = folder / MSI_FILE
    current = read_toml(path) if path.exists() else {}
    merged = {**current, **given}
    merge_layers([Layer("stand-in", _REQUIRED_STAND_INS), Layer("installer property", merged)])
    enrolment_file = Target(folder / ENROLMENT_FILE, shared=True)
    enrolled_as, already = None, False
    if enrol_code:
        if "hub_urls" not in merged:
            raise ConfigError("an enrolment code needs the hub's address (HUBURL)")
        hub = enrolment_hub(merged["hub_urls"][0])
        if enrolment_file.path.exists() and read_toml(enrolment_file.path).get("token"):
            already = True  # enrolled before: the code stays unspent
        else:  # before the settings: a refused code leaves every file as it was
            enrolled_as = enrol(hub, enrol_code, enrolment_file).workstation_id
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if merged != current or not path.exists():
            _write(path, merged)
    except OSError as error:
        raise ConfigError(f"cannot write {str(path)!r}: {error.strerror}") from None
    return MachineResult(path, enrolled_as, already)
