"""The MSI's ``machine-config`` in-process: property parsing, merging, the enrolment address.

The command as the MSI runs it, with a real hub for the enrolment, is
tests/installers/test_windows_machine_config.py; these cases need no network.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from agent.cli import main
from agent.config import ConfigError
from agent.enrol import EnrolError
from agent.machine_setup import MSI_FILE, enrolment_hub, given_settings, write_machine_config


def test_empty_properties_are_not_given() -> None:
    assert given_settings("", "", "") == {}
    assert given_settings(" ws://a/ws/agent;wss://b/ws/agent ,", " en ", "0") == {
        "hub_urls": ["ws://a/ws/agent", "wss://b/ws/agent"],
        "language": "en",
        "peer_port": 0,
    }
    with pytest.raises(ConfigError, match="'peer_port': 'x' is not a number"):
        given_settings("", "", "x")


@pytest.mark.parametrize(
    ("ws_url", "http_url"),
    [
        ("wss://hub.amt:8443/ws/agent", "https://hub.amt:8443"),
        ("ws://127.0.0.1:8000/alarm/ws/agent", "http://127.0.0.1:8000/alarm"),
    ],
)
def test_the_enrolment_address_comes_from_the_agents_url(ws_url: str, http_url: str) -> None:
    assert enrolment_hub(ws_url) == http_url


def test_an_url_enrolment_cannot_use_is_refused() -> None:
    with pytest.raises(EnrolError, match="does not end in /ws/agent"):
        enrolment_hub("wss://hub.amt/agent")


def test_keys_given_replace_and_the_rest_stay(tmp_path: Path) -> None:
    result = write_machine_config(tmp_path, {"hub_urls": ["wss://a/ws/agent"], "language": "en"})
    assert result.path == tmp_path / MSI_FILE
    assert (result.enrolled_as, result.already_enrolled) == (None, False)
    write_machine_config(tmp_path, {"peer_port": 0})
    written = tomllib.loads((tmp_path / MSI_FILE).read_text(encoding="utf-8"))
    assert written == {"hub_urls": ["wss://a/ws/agent"], "language": "en", "peer_port": 0}
    before = (tmp_path / MSI_FILE).read_bytes()
    with pytest.raises(ConfigError, match=r"config key 'tray_click'.*installer property"):
        write_machine_config(tmp_path, {"tray_click": "triple"})
    assert (tmp_path / MSI_FILE).read_bytes() == before


def test_an_enrolled_pc_keeps_its_identity_without_asking_the_hub(tmp_path: Path) -> None:
    enrolment = tmp_path / "50-enrolment.toml"
    enrolment.write_text('workstation_id = "pc-1"\ntoken = "s"\n', encoding="utf-8")
    # Port 9 (discard) on the loopback: were the hub asked, the code would fail.
    given = {"hub_urls": ["ws://127.0.0.1:9/ws/agent"]}
    result = write_machine_config(tmp_path, given, enrol_code="unused-code")
    assert result.already_enrolled
    assert enrolment.read_text(encoding="utf-8") == 'workstation_id = "pc-1"\ntoken = "s"\n'


def test_the_cli_prints_one_line_and_exits_2_on_a_bad_property(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["machine-config", "--folder", str(tmp_path), "--language", "fr"]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("silent-alarm-agent: config key 'language'")
    assert not (tmp_path / MSI_FILE).exists()
    assert main(["machine-config", "--folder", str(tmp_path), "--language", "en"]) == 0
    assert capsys.readouterr().out == f"machine config written to {tmp_path / MSI_FILE}\n"
    assert main(["machine-config", "--folder", str(tmp_path), "--enrol-code", "c"]) == 2
    assert "needs the hub's address (HUBURL)" in capsys.readouterr().err
