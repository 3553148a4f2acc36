"""The Linux packages built by installers/linux/build-deb, checked with dpkg-deb; the Windows
sources checked for their fixed identity (they build only on Windows).

These build with ``--no-venv`` (a stand-in for the virtual environment, which takes minutes
to install and compress): everything else is the real package. The real hub package is
built, linted and installed by test_packages_lint.py and test_packages_lifecycle.py.
"""

from __future__ import annotations

import configparser
import gzip
import re
import subprocess
import tomllib
from pathlib import Path

from defusedxml import ElementTree as ET

from agent.config import AgentConfig, parse_config
from dispatch.settings import Settings
from tests.support.debs import (
    BUILD_DEB,
    REPO,
    UPGRADE_SUFFIX,
    VERSION,
    Debs,
    contents,
    control_file,
    field,
    member,
)

FILES = REPO / "installers" / "linux" / "files"
WINDOWS = REPO / "installers" / "windows"


def test_agent_package_layout_and_control(layout_debs: Debs) -> None:
    deb = layout_debs["silent-alarm-agent"]
    assert deb.name == f"silent-alarm-agent_{VERSION}_amd64.deb"
    files = contents(deb)
    assert files["/usr/bin/silent-alarm-agent"] == "-rwxr-xr-x"
    assert files["/etc/xdg/autostart/silent-alarm-agent.desktop"] == "-rw-r--r--"
    assert files["/etc/silent-alarm/agent.toml"] == "-rw-r--r--"
    # `enrol` run by root writes agent.d/50-enrolment.toml (0644) for every user's agent.
    assert files["/etc/silent-alarm/agent.d"] == "drwxr-xr-x"
    assert "/opt/silent-alarm/agent" in files  # the venv (a stand-in in this build)
    assert files["/usr/share/man/man1/silent-alarm-agent.1.gz"] == "-rw-r--r--"
    assert files["/usr/share/doc/silent-alarm-agent/copyright"] == "-rw-r--r--"
    assert files["/usr/share/doc/silent-alarm-agent/changelog.gz"] == "-rw-r--r--"
    assert files["/usr/share/lintian/overrides/silent-alarm-agent"] == "-rw-r--r--"
    assert field(deb, "Package") == "silent-alarm-agent"
    assert field(deb, "Version") == VERSION
    depends = [d.strip() for d in field(deb, "Depends").split(",")]
    # The venv runs /usr/bin/python3 with lib/python3.11: no other minor version.
    assert depends[:2] == ["python3 (>= 3.11)", "python3 (<< 3.12)"]
    assert "libglib2.0-0" in depends  # Qt6Core links libglib-2.0 (issue 18)
    assert "libxcb-cursor0" in depends  # Qt's xcb platform plugin
    # The policy file and the autostart entry are conffiles: dpkg keeps the admin's edits.
    assert control_file(deb, "conffiles").split() == [
        "/etc/silent-alarm/agent.toml",
        "/etc/xdg/autostart/silent-alarm-agent.desktop",
    ]
    postrm = control_file(deb, "postrm")
    assert "rm -f /etc/silent-alarm/agent.d/50-enrolment.toml" in postrm  # purge only
    assert '"$1" = purge' in postrm


def test_hub_package_layout_and_control(layout_debs: Debs) -> None:
    deb = layout_debs["silent-alarm-dispatch"]
    files = contents(deb)
    assert files["/usr/bin/silent-alarm-dispatch"] == "-rwxr-xr-x"
    assert "/lib/systemd/system/silent-alarm-dispatch.service" in files
    assert files["/etc/silent-alarm/dispatch.env"] == "-rw-r-----"  # holds the session secret
    assert files["/usr/share/man/man1/silent-alarm-dispatch.1.gz"] == "-rw-r--r--"
    assert control_file(deb, "conffiles").split() == ["/etc/silent-alarm/dispatch.env"]
    depends = [d.strip() for d in field(deb, "Depends").split(",")]
    assert depends == [
        *("python3 (>= 3.11)", "python3 (<< 3.12)"),
        *("libc6", "libgcc-s1", "libstdc++6"),  # what the wheels' extension modules link
        *("adduser", "systemd"),
    ]
    postinst = control_file(deb, "postinst")
    assert "adduser --quiet --system" in postinst
    assert "SILENT_ALARM_SESSION_SECRET" in postinst  # never started without a secret
    assert "if [ ! -e /etc/silent-alarm/audit.key ]" in postinst  # made once, kept on upgrades
    assert "chmod 0640 /etc/silent-alarm/audit.key" in postinst
    # debhelper's conventions: enabled once, a disabled unit stays so; restarted if running.
    assert "deb-systemd-helper --quiet was-enabled" in postinst
    assert "systemctl enable" not in postinst
    assert 'deb-systemd-invoke try-restart "$unit"' in postinst
    assert "deb-systemd-invoke stop silent-alarm-dispatch.service" in control_file(deb, "prerm")
    postrm = control_file(deb, "postrm")
    assert 'deb-systemd-helper purge "$unit"' in postrm
    assert "rm -rf" not in postrm  # purge keeps the alarm records (docs/operations.md)


def test_upgrade_build_carries_the_version_suffix(layout_debs_upgrade: Debs) -> None:
    for name, deb in layout_debs_upgrade.items():
        assert field(deb, "Version") == VERSION + UPGRADE_SUFFIX
        changelog = gzip.decompress(member(deb, f"/usr/share/doc/{name}/changelog.gz"))
        assert changelog.decode().startswith(f"{name} ({VERSION}{UPGRADE_SUFFIX}) unstable;")


def man_page(deb: Path, name: str) -> str:
    return gzip.decompress(member(deb, f"/usr/share/man/man1/{name}.1.gz")).decode()


def test_hub_man_pages_name_every_command(layout_debs: Debs) -> None:
    import typer

    from dispatch.cli import cli

    deb = layout_debs["silent-alarm-dispatch"]
    files = contents(deb)
    group = typer.main.get_command(cli)
    assert isinstance(group, typer.core.TyperGroup)
    top = man_page(deb, "silent-alarm-dispatch")
    assert top.startswith('.TH "SILENT-ALARM-DISPATCH" "1"')  # the unit's man:…(1)
    assert "\\-\\-config" in top  # the settings file every command reads
    for name, command in group.commands.items():
        assert f"\\fB{name}\\fP" in top, name  # listed on the main page
        assert f"/usr/share/man/man1/silent-alarm-dispatch-{name}.1.gz" in files
        for sub in getattr(command, "commands", {}):
            page = man_page(deb, f"silent-alarm-dispatch-{name}-{sub}")
            assert page.startswith(f'.TH "SILENT-ALARM-DISPATCH {name.upper()} {sub.upper()}"')
    assert "operator" in group.commands
    assert "serve" in group.commands


def test_agent_man_page_names_every_subcommand(layout_debs: Debs) -> None:
    import argparse

    from agent.cli import _parser

    page = man_page(layout_debs["silent-alarm-agent"], "silent-alarm-agent")
    assert page.startswith(".TH SILENT\\-ALARM\\-AGENT")
    (commands,) = [
        action for action in _parser()._actions if isinstance(action, argparse._SubParsersAction)
    ]
    assert set(commands.choices) == {"run", "trigger", "status", "show", "enrol", "machine-config"}
    for name in commands.choices:
        # A section of its own per subcommand, with its options.
        roff = name.replace("-", "\\-")  # man pages escape every hyphen
        assert f".SH COMMAND \\fI\\,'silent\\-alarm\\-agent {roff}'" in page, name
    assert "\\fB\\-\\-wait\\-for\\-help\\fR" in page  # trigger's options are there


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
    for args, message in [
        (["--package", "windows"], "build-deb: --package must be agent, dispatch or all"),
        (
            ["--version-suffix", "-1 evil"],
            "build-deb: --version-suffix may hold only letters, digits, '.', '+' and '~'",
        ),
        (
            ["--man-python", "/nonexistent/python"],
            "build-deb: --man-python: /nonexistent/python is not an executable",
        ),
    ]:
        done = subprocess.run(
            [str(BUILD_DEB), *args], capture_output=True, text=True, timeout=30, check=False
        )
        assert done.returncode == 2, args
        assert done.stderr.strip().splitlines() == [message]


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
