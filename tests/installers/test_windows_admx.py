"""The group policy templates (installers/windows/admx) against the keys the agent reads.

The agent takes every value under ``HKLM\\SOFTWARE\\Policies\\SilentAlarm\\Agent`` as a
config key (agent/config.py ``policy_layer``), and ``AgentConfig`` refuses unknown
ones: its fields are the list. Each value the template can write is read back through
``read_policy_registry`` (a stand-in for ``winreg``; the real registry is read on the
Windows runner) and must be accepted by the agent.
"""

from __future__ import annotations

import enum
import re
import types
import typing
from pathlib import Path
from typing import Any, cast
from xml.etree.ElementTree import Element

import pytest
from annotated_types import Ge, Gt, Le
from defusedxml import ElementTree as ET
from pydantic import SecretStr

from agent.config import POLICY_REGISTRY_KEY, AgentConfig, ConfigError, Layer, merge_layers
from agent.config import read_policy_registry as read_registry
from tests.unit.test_agent_config import FakeWinreg

ADMX_DIR = Path(__file__).resolve().parents[2] / "installers" / "windows" / "admx"
NS = {"p": "http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions"}
LANGUAGES = ("de-DE", "en-US")
REQUIRED = {"hub_urls": ["ws://hub/ws/agent"], "workstation_id": "pc-1", "token": "t"}
REG_SZ, REG_EXPAND_SZ, REG_DWORD, REG_MULTI_SZ = 1, 2, 4, 7


def _root(path: Path) -> Element:
    root = ET.parse(path).getroot()
    assert root is not None
    return root


def admx() -> Element:
    return _root(ADMX_DIR / "SilentAlarm.admx")


def adml(language: str) -> Element:
    return _root(ADMX_DIR / language / "SilentAlarm.adml")


def policies() -> list[Element]:
    return admx().findall("p:policies/p:policy", NS)


def registry_writes(policy: Element) -> list[tuple[str, str, Element]]:
    """(value name, element kind, element) for every value the policy writes."""
    writes = []
    if policy.get("valueName"):
        writes.append((policy.get("valueName", ""), "boolean", policy))
    for element in policy.findall("p:elements/*", NS):
        kind = element.tag.split("}")[1]
        writes.append((element.get("valueName", ""), kind, element))
    return writes


def test_every_key_the_agent_reads_is_in_the_template_and_no_other() -> None:
    names = [name for policy in policies() for name, _, _ in registry_writes(policy)]
    assert len(names) == len(set(names)), "a value written by two policies"
    assert set(names) == set(AgentConfig.model_fields)
    for policy in policies():
        assert policy.get("key") == POLICY_REGISTRY_KEY
        assert policy.get("class") == "Machine"  # HKLM: the agent reads no user policy


def _references(text: str, kind: str) -> set[str]:
    return set(re.findall(rf"\$\({kind}\.([\w.]+)\)", text))


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_string_and_presentation_resolves_in_each_language(language: str) -> None:
    source = (ADMX_DIR / "SilentAlarm.admx").read_text(encoding="utf-8")
    resources = adml(language)
    strings = {s.get("id") for s in resources.findall("p:resources/p:stringTable/p:string", NS)}
    presentations = resources.findall("p:resources/p:presentationTable/p:presentation", NS)
    assert _references(source, "string") <= strings
    assert _references(source, "presentation") == {p.get("id") for p in presentations}
    for string in resources.findall("p:resources/p:stringTable/p:string", NS):
        assert (string.text or "").strip(), f"empty string {string.get('id')}"
    # Each presentation's controls refer to the elements of the policy that names it.
    by_presentation = {
        (policy.get("presentation") or "")[len("$(presentation.") : -1]: policy
        for policy in policies()
    }
    for presentation in presentations:
        policy = by_presentation[presentation.get("id", "")]
        element_ids = {e.get("id") for e in policy.findall("p:elements/*", NS)}
        assert {c.get("refId") for c in presentation} == element_ids


def test_both_languages_define_the_same_strings() -> None:
    ids = [
        {s.get("id") for s in adml(lang).findall("p:resources/p:stringTable/p:string", NS)}
        for lang in LANGUAGES
    ]
    assert ids[0] == ids[1]
    german = adml("de-DE").find("p:resources/p:stringTable/p:string[@id='hotkey_level_3']", NS)
    assert german is not None
    assert german.text == "Stufe 3 – Gefahr / Amok"  # the glossary's words


def _plain(annotation: Any) -> Any:
    """The annotation without ``| None``."""
    if isinstance(annotation, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        assert len(args) == 1
        return args[0]
    return annotation


def _expected_kinds(key: str) -> set[str]:
    """The template elements that write a value of the type the agent parses for ``key``."""
    annotation = _plain(AgentConfig.model_fields[key].annotation)
    if typing.get_origin(annotation) is list:
        return {"multiText"}  # REG_MULTI_SZ -> list
    if annotation is bool:
        return {"boolean"}  # REG_DWORD 0/1
    if typing.get_origin(annotation) is typing.Literal:
        return {"enum"}
    if isinstance(annotation, type) and issubclass(annotation, enum.IntEnum):
        return {"enum", "decimal"}
    if annotation in (int, float):
        return {"decimal"}  # REG_DWORD
    if annotation in (str, SecretStr, Path):
        return {"text"}
    raise AssertionError(f"{key}: no template type for {annotation!r}")


def _values(kind: str, element: Element, key: str) -> list[tuple[object, int]]:
    """Registry values (value, type) the template can write for one element."""
    if kind == "boolean":
        values = [d.get("value") for d in element.findall(".//p:decimal", NS)]
        return [(int(v or ""), REG_DWORD) for v in values]
    if kind == "decimal":
        assert element.get("storeAsText") != "true"
        return [(int(element.get(b, "")), REG_DWORD) for b in ("minValue", "maxValue")]
    if kind == "enum":
        out: list[tuple[object, int]] = []
        for value in element.findall("p:item/p:value/*", NS):
            tag = value.tag.split("}")[1]
            out.append(
                (int(value.get("value", "")), REG_DWORD) if tag == "decimal" else (value.text, 1)
            )
        return out
    if kind == "multiText":
        return [(["wss://hub-a/ws/agent", "wss://hub-b/ws/agent"], REG_MULTI_SZ)]
    kind_of_text = REG_EXPAND_SZ if element.get("expandable") == "true" else REG_SZ
    for language in LANGUAGES:
        box = adml(language).find(f".//p:textBox[@refId='{key}']/p:defaultValue", NS)
        if box is not None:
            return [(box.text, kind_of_text)]
    return []


def _read_back(key: str, value: object, kind: int) -> dict[str, Any]:
    reg = FakeWinreg({POLICY_REGISTRY_KEY: [(key, value, kind)]})
    values = read_registry(winreg=reg)
    assert values is not None
    return values


def test_every_value_the_template_writes_is_accepted_by_the_agent() -> None:
    for policy in policies():
        for key, kind, element in registry_writes(policy):
            assert kind in _expected_kinds(key), f"{key}: {kind}"
            if kind == "text" and _plain(AgentConfig.model_fields[key].annotation) is Path:
                assert element.get("expandable") == "true", f"{key}: %LOCALAPPDATA% must expand"
            for value, reg_type in _values(kind, element, key):
                read = _read_back(key, value, reg_type)
                layers = [Layer("user", REQUIRED), Layer("policy", read, policy=True)]
                try:
                    merge_layers(layers)
                except ConfigError as error:
                    raise AssertionError(f"{key}={value!r} from the template: {error}") from None


def test_number_limits_stay_within_what_the_agent_accepts() -> None:
    for policy in policies():
        for key, kind, element in registry_writes(policy):
            if kind != "decimal":
                continue
            low, high = int(element.get("minValue", "")), int(element.get("maxValue", ""))
            for bound in AgentConfig.model_fields[key].metadata:
                if isinstance(bound, Ge):
                    assert low >= cast(float, bound.ge), key
                if isinstance(bound, Gt):
                    assert low > cast(float, bound.gt), key
                if isinstance(bound, Le):
                    assert high <= cast(float, bound.le), key
            # One past the template's range is refused by the agent too: the same limits.
            with pytest.raises(ConfigError, match=key):
                merge_layers([Layer("user", {**REQUIRED, key: high + 1})])


def test_enum_items_are_exactly_the_choices_the_agent_knows() -> None:
    for policy in policies():
        for key, kind, element in registry_writes(policy):
            if kind != "enum":
                continue
            offered = {value for value, _ in _values(kind, element, key)}
            annotation = _plain(AgentConfig.model_fields[key].annotation)
            if typing.get_origin(annotation) is typing.Literal:
                assert offered == set(typing.get_args(annotation)), key
            else:
                assert offered == {int(member) for member in annotation}, key
