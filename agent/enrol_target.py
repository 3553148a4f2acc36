"""Where ``enrol`` writes: root's enrolment in the machine folder, a user's in their own file.

The agent runs as each desktop user of the PC, never as root. What root (or the
software distribution) enrols must therefore be readable by every user: a
drop-in in the machine folder (``/etc/silent-alarm/agent.d/50-enrolment.toml``),
mode 0644, beside the administrator's policy file, which ``enrol`` never
touches. A user enrolling for themselves gets a mode-0600 file of their own.
Why every local user may read the PC's secret: docs/security.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agent.config import (
    MACHINE_ENV,
    AdminPlaces,
    config_path,
    machine_location,
    policy_location,
)

ENROLMENT_FILE = "50-enrolment.toml"
SHARED_MODE = 0o644
PRIVATE_MODE = 0o600


@dataclass(frozen=True)
class Target:
    path: Path
    shared: bool  # read by the agent of every user of this PC

    @property
    def mode(self) -> int:
        return SHARED_MODE if self.shared else PRIVATE_MODE


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def machine_target(environ: Mapping[str, str], places: AdminPlaces | None = None) -> Path:
    """The enrolment drop-in in the machine folder, or the one machine file an override names."""
    location = machine_location(environ, places)
    override = environ.get(MACHINE_ENV)  # ignored on a managed PC: then location differs
    if override and location == Path(override) and not location.is_dir():
        return location  # the agent reads this one file as its machine layer
    return location / ENROLMENT_FILE


def enrol_target(
    cli_value: str | None,
    environ: Mapping[str, str] | None = None,
    root: bool | None = None,
    places: AdminPlaces | None = None,
) -> Target:
    """--config if given; else root writes the machine drop-in, a user their own file.

    A file in the machine folder, the machine file or the policy file is shared
    (every user's agent reads it); any other file is its writer's own.
    """
    env = os.environ if environ is None else environ
    if not cli_value and (is_root() if root is None else root):
        path = machine_target(env, places)
    else:
        path = config_path(cli_value, env)
    readers = {machine_location(env, places), policy_location(env, places)}
    everyone = {place.absolute() for place in readers if place is not None}
    shared = path.absolute() in everyone or path.absolute().parent in everyone
    return Target(path, shared)
