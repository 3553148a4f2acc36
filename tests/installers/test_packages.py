"""The Linux packages built by installers/linux/build-deb, checked with dpkg-deb; the Windows
sources checked for their fixed identity (they build only on Windows).

The test builds with ``--no-venv`` (a stand-in for the 300 MB virtual environment,
which takes minutes to install and compress): everything else is the real package.
"""

from __future__ import annotations

import configparser
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from defusedxml import ElementTree as ET

from agent.config import AgentConfig, parse_config
from dispatch.settings import Settings

REPO = Path(__file__).resolve().parents[2]
BUILD_DEB = REPO / "installers" / "linux" / "build-deb"
FILES = REPO / "installers" / "linux" / "files"
WINDOWS = REPO / "installers" / "windows"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


@pytest.fixture(scope="module")
def debs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("debs")
    done = subprocess.run(
        [str(BUILD_DEB), "--package", "all", "--no-venv", "--compress", "gzip", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    built = [Path(line) for line in done.stdout.split()]
    return {path.name.split("_")[0]: path for path in built}


def contents(deb: Path) -> dict[str, str]:
    """Path → permission string, from dpkg-deb --contents."""
    listing = subprocess.run(
        ["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    entries = {}
    for line in listing.splitlines():
        fields = line.split()
        entries[fields[-1].removeprefix(".").rstrip("/") or "/"] = fields[0]
    return entries


def field(deb: Path, name: str) -> str:
    return subprocess.run(
        ["dpkg-deb", "--field", str(deb), name], capture_output=True, text=True, check=True
    ).stdout.strip()


def control_file(deb: Path, name: str) -> str:
    return subprocess.run(
        ["dpkg-deb", "--info", str(deb), name], capture_output=True, text=True, check=True
    ).stdout


def test_agent_package_layout_and_control(debs: dict[str, Path]) -> None:
    deb = debs["silent-alarm-agent"]
    assert deb.name == f"silent-alarm-agent_{VERSION}_amd64.deb"
    files = contents(deb)
    assert files["/usr/bin/silent-alarm-agent"] == "-rwxr-xr-x"
    assert files["/etc/xdg/autostart/silent-alarm-agent.desktop"] == "-rw-r--r--"
    assert files["/etc/silent-alarm/agent.toml"] == "-rw-r--r--"
    # `enrol` run by root writes agent.d/50-enrolment.toml (0644) for every user's agent.
    assert files["/etc/silent-alarm/agent.d"] == "drwxr-xr-x"
    assert "/opt/silent-alarm/agent" in files  # the venv (a stand-in in this build)
    assert field(deb, "Package") == "silent-alarm-agent"
    assert field(deb, "Version") == VERSION
    depends = field(deb, "Depends")
    assert "python3.11" in depends
    assert "libxcb-cursor0" in depends  # Qt's xcb platform plugin
    # The policy file is a conffile: dpkg keeps the admin's edits on upgrade.
    assert control_file(deb, "conffiles").split() == ["/etc/silent-alarm/agent.toml"]


def test_hub_package_layout_and_control(debs: dict[str, Path]) -> None:
    deb = debs["silent-alarm-dispatch"]
    files = contents(deb)
    assert files["/usr/bin/silent-alarm-dispatch"] == "-rwxr-xr-x"
    assert "/lib/systemd/system/silent-alarm-dispatch.service" in files
    assert files["/etc/silent-alarm/dispatch.env"] == "-rw-r-----"  # holds the session secret
    assert control_file(deb, "conffiles").split() == ["/etc/silent-alarm/dispatch.env"]
    postinst = control_file(deb, "postinst")
    assert "adduser --system" in postinst
    assert "SILENT_ALARM_SESSION_SECRET" in postinst  # never started without a secret
    assert "if [ ! -e /etc/silent-alarm/audit.key ]" in postinst  # made once, kept on upgrades
    assert "chmod 0640 /etc/silent-alarm/audit.key" in postinst


def test_wrappers_and_unit_point_into_the_venvs() -> None:
    agent = (FILES / "silent-alarm-agent").read_text(encoding="utf-8")
    assert "exec /opt/silent-alarm/agent/bin/python -m agent.cli" in agent
    hub = (FILES / "silent-alarm-dispatch").read_text(encoding="utf-8")
    assert "exec /opt/silent-alarm/dispatch/bin/python -m dispatch" in hub
    # The admin's CLI reads the service's settings file, as the service's user under root.
    assert 'SILENT_ALARM_CONFIG="${SILENT_ALARM_CONFIG:-/etc/silent-alarm/dispatch.env}"' in hub
    assert "exec runuser -u silent-alarm -- " in hub
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(FILES / "silent-alarm-dispatch.service", encoding="utf-8")
    assert unit["Service"]["ExecStart"] == (
        "/opt/silent-alarm/dispatch/bin/python -m dispatch"
        " --config /etc/silent-alarm/dispatch.env serve"
    )
    assert unit["Service"]["User"] == "silent-alarm"
    assert "EnvironmentFile" not in unit["Service"]  # one reader of the file: the hub
    assert "Environment" not in unit["Service"]
    assert unit["Service"]["Restart"] == "always"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_shipped_settings_file_names_the_packages_folders_and_is_valid() -> None:
    settings = Settings(
        _env_file=FILES / "dispatch.env",
        session_secret="s" * 48,  # the admin sets it; the hub refuses to start without
    )
    assert settings.data_dir == Path("/var/lib/silent-alarm")
    assert settings.resolved_audit_key_file == Path("/etc/silent-alarm/audit.key")
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(FILES / "silent-alarm-dispatch.service", encoding="utf-8")
    assert settings.data_dir == Path("/var/lib") / unit["Service"]["StateDirectory"]
    anchors = settings.resolved_audit_anchor_file
    assert anchors.parent == Path("/var/log") / unit["Service"]["LogsDirectory"]  # writable


def test_autostart_entry_starts_the_agent_for_every_user() -> None:
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(FILES / "silent-alarm-agent.desktop", encoding="utf-8")
    desktop = entry["Desktop Entry"]
    assert desktop["Type"] == "Application"
    assert desktop["Exec"] == "/usr/bin/silent-alarm-agent run"
    assert desktop["Terminal"] == "false"


def test_shipped_agent_toml_lists_every_option_commented_out_and_valid() -> None:
    text = (FILES / "agent.toml").read_text(encoding="utf-8")
    assert tomllib.loads(text) == {}  # nothing set, nothing locked
    commented = {
        m[1]: m[2] for line in text.splitlines() if (m := re.match(r"#(\w+) = (.*)", line))
    }
    assert set(commented) == set(AgentConfig.model_fields)  # a new key fails here
    # Uncommented, every example value is one the agent accepts.
    parse_config(tomllib.loads("\n".join(f"{k} = {v}" for k, v in commented.items())))


def test_bad_arguments_exit_2_with_one_line() -> None:
    done = subprocess.run(
        [str(BUILD_DEB), "--package", "windows"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "build-deb: --package must be agent, dispatch or all"
    ]


def test_windows_msi_source_has_a_fixed_upgrade_code_and_per_machine_autostart() -> None:
    source = (WINDOWS / "silent-alarm-agent.wxs").read_text(encoding="utf-8")
    assert "NEVER CHANGE IT" in source
    ns = {"w": "http://wixtoolset.org/schemas/v4/wxs"}
    package = ET.fromstring(source).find("w:Package", ns)
    assert package is not None
    assert package.get("UpgradeCode") == "6F1C2B7E-4D3A-4E59-9B8F-2C5A7D10E3A4"
    assert package.get("Scope") == "perMachine"
    run = [
        value
        for value in package.iter("{http://wixtoolset.org/schemas/v4/wxs}RegistryValue")
        if value.get("Key") == r"Software\Microsoft\Windows\CurrentVersion\Run"
    ]
    assert [value.get("Root") for value in run] == ["HKLM"]
    assert "silent-alarm-agent.exe" in (run[0].get("Value") or "")
    compile((WINDOWS / "silent-alarm-agent.spec").read_text(encoding="utf-8"), "spec", "exec")
