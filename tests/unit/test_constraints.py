"""constraints.txt (scripts/lock) pins every dependency pyproject.toml names, within its range.

Every install (scripts/bootstrap for CI, the tests and the demo; the .deb build; the
Windows bundle) takes its versions from that file, so a dependency added or narrowed in
pyproject.toml without `scripts/lock` fails here rather than installing untested versions.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def pinned() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = Version(version.strip())
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines += [line for line in extra if not line.startswith("silent-alarm")]
    return [Requirement(line) for line in lines]


def test_every_dependency_is_pinned_within_its_range() -> None:
    pins = pinned()
    problems = []
    for requirement in declared():
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue  # another platform's
        version = pins.get(canonicalize_name(requirement.name))
        if version is None:
            problems.append(f"{requirement.name}: not in constraints.txt")
        elif version not in requirement.specifier:
            problems.append(f"{requirement.name}: {version} outside {requirement.specifier}")
    assert problems == [], "run scripts/lock: " + "; ".join(problems)


def test_every_line_is_an_exact_pin() -> None:
    assert len(pinned()) > 50
