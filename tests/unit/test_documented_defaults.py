"""The defaults the docs print are the code's: the hub's settings table (docs/configuration.md),
the agent's key table (docs/agent.md) and the commented defaults of the agent's packaged
policy file (installers/linux/files/agent.toml).

Stale defaults in docs/ were found by people following them; this reads each table and
compares every literal default with the model's, so a changed default fails here until
its doc follows.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from agent.config import AgentConfig
from dispatch.settings import Settings

ROOT = Path(__file__).parents[2]
NONE = "—"  # the docs' "no default": the model's default is empty
# Defaults the docs name by where they come from, not by a literal: (file, key) → why.
DESCRIBED = {
    "DATABASE_URL": "SQLite in DATA_DIR (derived at start)",
    "SESSION_SECRET": "required: no default",
    "AUDIT_KEY_FILE": "DATA_DIR/audit.key (derived at start)",
    "AUDIT_ANCHOR_FILE": "DATA_DIR/audit-anchors.jsonl (derived at start)",
    "PEER_KEY_FILE": "DATA_DIR/peer.key (derived at start)",
    "LDAP_GROUP_BASE": "LDAP_USER_BASE when empty",
    "LDAP_COMPUTER_BASE": "LDAP_USER_BASE when empty",
    "WEBPUSH_PUSH_HOSTS": "the four push services, listed in words",
    "hub_urls": "required",
    "workstation_id": "required",
    "token": "required",
    "user": "from the passwd entry (derived at start)",
    "data_dir": "platformdirs (derived at start)",
    "log_dir": "platformdirs (derived at start)",
}


def default_of(model: type[BaseModel], field: str) -> Any:
    info = model.model_fields[field]
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return info.default


def table_rows(text: str, key: str) -> Iterator[tuple[str, list[str]]]:
    """(key, the row's other cells) for every table row whose first cell is `key`."""
    for line in text.splitlines():
        match = re.match(rf"^\| `({key})` \|(.*)\|\s*$", line)
        if match:
            yield match.group(1), [cell.strip() for cell in match.group(2).split("|")]


def matches(documented: str, default: Any) -> bool:
    """Whether the doc's cell names the default: a leading `literal`, or — for none."""
    if documented.startswith(NONE):
        return default in (None, "", [], {})
    literal = re.match(r"`([^`]*)`", documented)
    assert literal, f"no literal default in {documented!r}"
    return same(literal.group(1), default)


def same(literal: str, default: Any) -> bool:
    if isinstance(default, bool):
        return literal.lower() == str(default).lower()
    if isinstance(default, int | float):
        return float(literal) == float(default)
    if isinstance(default, list | dict):
        return bool(json.loads(literal) == default)
    text = default.value if hasattr(default, "value") else str(default)
    return literal.strip('"') == str(text)


def test_every_hub_default_in_configuration_md_is_the_settings_default() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    rows = {name: cells for name, cells in table_rows(text, r"SILENT_ALARM_[A-Z0-9_]+")}
    assert rows, "the settings table was not found"
    wrong = []
    for variable, cells in rows.items():
        name = variable.removeprefix("SILENT_ALARM_")
        if name in DESCRIBED:
            continue
        default = default_of(Settings, name.lower())
        if not matches(cells[0], default):
            wrong.append(f"{variable}: docs {cells[0]!r}, code {default!r}")
    assert not wrong, "docs/configuration.md shows stale defaults: " + "; ".join(wrong)
    assert {n.removeprefix("SILENT_ALARM_").lower() for n in rows} == set(Settings.model_fields)


def test_every_agent_default_in_agent_md_is_the_configs_default() -> None:
    text = (ROOT / "docs" / "agent.md").read_text()
    fields = "|".join(AgentConfig.model_fields)
    rows = {key: cells for key, cells in table_rows(text, fields) if len(cells) == 3}
    assert set(rows) == set(AgentConfig.model_fields), "docs/agent.md's key table is incomplete"
    wrong = []
    for key, (_type, documented, _meaning) in rows.items():
        if key in DESCRIBED or (documented == "none" and default_of(AgentConfig, key) is None):
            continue
        if not matches(documented, default_of(AgentConfig, key)):
            wrong.append(f"{key}: docs {documented!r}, code {default_of(AgentConfig, key)!r}")
    assert not wrong, "docs/agent.md shows stale defaults: " + "; ".join(wrong)


def test_the_packaged_policy_files_commented_defaults_are_the_configs() -> None:
    """Every `#key = value` line of installers/linux/files/agent.toml that is no example
    (those the config has no default for, or that depend on the user) is the default."""
    lines = (ROOT / "installers" / "linux" / "files" / "agent.toml").read_text().splitlines()
    commented = [line[1:] for line in lines if re.match(r"^#[a-z_]+ = ", line)]
    assert commented, "no commented defaults found"
    values = tomllib.loads("\n".join(commented))
    wrong = [
        f"{key} = {value!r}, code {default_of(AgentConfig, key)!r}"
        for key, value in values.items()
        if key not in DESCRIBED
        and key not in ("bind_address",)  # an example address: the default is none
        and not same(
            json.dumps(value) if isinstance(value, bool) else str(value),
            default_of(AgentConfig, key),
        )
    ]
    assert not wrong, "installers/linux/files/agent.toml shows stale defaults: " + "; ".join(wrong)


@pytest.mark.parametrize(
    ("literal", "default", "expected"),
    [
        ("6.0", 6.0, True),
        ("300", 300.0, True),
        ("5.0", 6.0, False),
        ("false", False, True),
        ("True", False, False),
        ("[]", [], True),
        ('"de"', "de", True),
        ("ctrl+alt+p", "ctrl+alt+shift+p", False),
    ],
)
def test_a_literal_is_compared_by_the_defaults_type(
    literal: str, default: Any, expected: bool
) -> None:
    assert same(literal, default) is expected
