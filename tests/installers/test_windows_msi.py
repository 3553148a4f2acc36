"""The Windows sources (WiX .wxs, PyInstaller .spec, the frozen entry point), checked on Linux.

WiX and PyInstaller run only on Windows (.github/workflows/windows.yml builds and
installs both). Here: a structural check of the .wxs, not a schema validation (WiX
v4/v5 ship no schema the compiler uses; theirs is under the MS-RL and documentation
only), the spec executed with recording stand-ins for PyInstaller's build steps, and
the entry point both executables share run as a process.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path, PureWindowsPath
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as ET

from agent.cli import main
from tests.support.commands import command_env

REPO = Path(__file__).resolve().parents[2]
WINDOWS = REPO / "installers" / "windows"
WXS = WINDOWS / "silent-alarm-agent.wxs"
W = "{http://wixtoolset.org/schemas/v4/wxs}"
# Never change: a new UpgradeCode makes every installed agent a second, parallel product.
UPGRADE_CODE = "6F1C2B7E-4D3A-4E59-9B8F-2C5A7D10E3A4"
PYINSTALLER_OUTPUT = PureWindowsPath("..", "..", "dist", "silent-alarm-agent")
# Windows Installer's own properties the .wxs may use without declaring them.
MSI_PROPERTIES = {"REMOVE"}
SECRET = re.compile(r"CODE|TOKEN|SECRET|PASSWORD")


def wix() -> Element:
    root = ET.parse(WXS).getroot()
    assert root is not None
    return root


def package() -> Element:
    found = wix().find(f"{W}Package")
    assert found is not None
    return found


def test_the_package_is_wix_v4_per_machine_with_its_upgrade_code() -> None:
    assert wix().tag == f"{W}Wix"  # v4/v5 namespace, not WiX 3's
    pkg = package()
    assert pkg.get("UpgradeCode") == UPGRADE_CODE
    assert pkg.get("Scope") == "perMachine"
    assert pkg.get("InstallerVersion") == "500"  # MsiLockPermissionsEx (PermissionEx)
    assert pkg.find(f"{W}MajorUpgrade") is not None


def test_every_file_source_exists_but_the_pyinstaller_output() -> None:
    sources = [f.get("Source", "") for f in package().iter(f"{W}File")]
    sources += [f.get("Include", "") for f in package().iter(f"{W}Files")]
    assert sources
    for source in sources:
        path = PureWindowsPath(source)
        if path.parts[: len(PYINSTALLER_OUTPUT.parts)] == PYINSTALLER_OUTPUT.parts:
            continue  # built on the Windows runner before `wix build`
        assert (WINDOWS / Path(*path.parts)).is_file(), source


def _formatted(pkg: Element) -> set[str]:
    """Every [NAME] in an attribute and every upper-case name in a condition."""
    names: set[str] = set()
    for element in pkg.iter():
        for attribute, value in element.attrib.items():
            names |= set(re.findall(r"\[([A-Za-z_]\w*)\]", value))
            if attribute == "Condition":
                unquoted = re.sub(r'"[^"]*"', "", value)
                names |= set(re.findall(r"\b([A-Z][A-Z_]{2,})\b", unquoted)) - {"NOT", "AND", "OR"}
    return names


def test_every_property_used_is_declared() -> None:
    pkg = package()
    declared = {p.get("Id") for p in pkg.iter(f"{W}Property")}
    directories = {d.get("Id") for d in pkg.iter(f"{W}Directory")}
    used = _formatted(pkg)
    assert used, "the custom action passes the properties on"
    assert used <= declared | directories | MSI_PROPERTIES, used - declared - directories
    # The public properties an admin sets on the command line are all passed on and
    # documented in installers/README.md.
    public = {p.get("Id", "") for p in pkg.iter(f"{W}Property") if p.get("Secure") == "yes"}
    assert public == {"HUBURL", "AGENTLANGUAGE", "PEERPORT", "ENROLLCODE"}
    assert public <= used
    readme = (REPO / "installers" / "README.md").read_text(encoding="utf-8")
    for name in public:
        assert f"| `{name}` |" in readme


def test_secrets_stay_out_of_the_msi_log() -> None:
    pkg = package()
    secrets = {p.get("Id", "") for p in pkg.iter(f"{W}Property") if SECRET.search(p.get("Id", ""))}
    assert secrets == {"ENROLLCODE"}
    for name in secrets:
        (prop,) = [p for p in pkg.iter(f"{W}Property") if p.get("Id") == name]
        assert prop.get("Hidden") == "yes"  # MsiHiddenProperties: masked in the log
    for action in pkg.iter(f"{W}CustomAction"):
        command = action.get("ExeCommand", "") + action.get("Value", "")
        if any(f"[{name}]" in command for name in secrets):
            assert action.get("HideTarget") == "yes", action.get("Id")


def test_the_machine_config_is_written_as_system_by_the_companion() -> None:
    pkg = package()
    (action,) = [a for a in pkg.iter(f"{W}CustomAction") if a.get("Id") == "WriteMachineConfig"]
    assert action.get("FileRef") == "CliExe"
    assert (action.get("Execute"), action.get("Impersonate")) == ("deferred", "no")
    assert action.get("Return") == "check"
    assert (action.get("ExeCommand") or "").startswith("machine-config ")
    (cli,) = [f for f in pkg.iter(f"{W}File") if f.get("Id") == "CliExe"]
    assert PureWindowsPath(cli.get("Source", "")).name == "silent-alarm-agent-cli.exe"
    (scheduled,) = [c for c in pkg.iter(f"{W}Custom") if c.get("Action") == "WriteMachineConfig"]
    assert scheduled.get("Before") == "InstallFinalize"
    assert "REMOVE" in (scheduled.get("Condition") or "")  # not while uninstalling


def test_the_custom_actions_command_line_is_one_the_cli_takes(tmp_path: Path) -> None:
    (action,) = [
        a for a in package().iter(f"{W}CustomAction") if a.get("Id") == "WriteMachineConfig"
    ]
    # An upgrade without properties: every [PROPERTY] formats to nothing.
    args = shlex.split(re.sub(r"\[\w+\]", "", action.get("ExeCommand", "")))
    assert main([*args, "--folder", str(tmp_path)]) == 0
    values = {"AGENTLANGUAGE": "en", "PEERPORT": "0"}  # two properties given
    command = action.get("ExeCommand", "")
    given = re.sub(r"\[(\w+)\]", lambda found: values.get(found[1], ""), command)
    assert main([*shlex.split(given), "--folder", str(tmp_path)]) == 0
    assert (
        (tmp_path / "60-msi.toml")
        .read_text(encoding="utf-8")
        .endswith('language = "en"\npeer_port = 0\n')
    )


def test_users_read_the_machine_folders_and_only_admins_change_them() -> None:
    pkg = package()
    locked = {}
    for component in pkg.iter(f"{W}Component"):
        for permission in component.iter(f"{W}PermissionEx"):
            locked[component.get("Directory")] = permission.get("Sddl", "")
    assert set(locked) == {"DataFolder", "MachineConfigFolder"}
    for sddl in locked.values():
        dacl = sddl.split("D:", 1)[1]
        assert dacl.startswith("P"), "protected: ProgramData's write entries not inherited"
        aces = re.findall(r"\((A);(\w*);(\w+);;;(\w+)\)", dacl)
        rights = {trustee: right for _, _, right, trustee in aces}
        assert rights == {"SY": "FA", "BA": "FA", "BU": "0x1200a9"}  # read and execute only


def test_autostart_and_the_admins_file_are_kept() -> None:
    pkg = package()
    run = [
        value
        for value in pkg.iter(f"{W}RegistryValue")
        if value.get("Key") == r"Software\Microsoft\Windows\CurrentVersion\Run"
    ]
    assert [(v.get("Root"), v.get("Name")) for v in run] == [("HKLM", "SilentAlarmAgent")]
    assert (run[0].get("Value") or "").endswith('silent-alarm-agent.exe" run')
    (machine,) = [c for c in pkg.iter(f"{W}Component") if c.get("Id") == "MachineConfig"]
    assert (machine.get("NeverOverwrite"), machine.get("Permanent")) == ("yes", "yes")


class _Recorder:
    """Stands in for one of PyInstaller's build steps (Analysis, PYZ, EXE, COLLECT)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs
        self.scripts: list[str] = []
        self.binaries: list[str] = []
        self.datas: list[str] = []
        self.pure: list[str] = []


def test_the_spec_builds_the_tray_agent_and_its_console_companion() -> None:
    steps: dict[str, list[_Recorder]] = {}

    def step(name: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> _Recorder:
            made = _Recorder(*args, **kwargs)
            steps.setdefault(name, []).append(made)
            return made

        return record

    names = {name: step(name) for name in ("Analysis", "PYZ", "EXE", "COLLECT")}
    spec = WINDOWS / "silent-alarm-agent.spec"
    # PyInstaller runs a spec the same way: as Python, with SPECPATH and its build steps.
    code = compile(spec.read_text("utf-8"), str(spec), "exec")
    exec(code, {"SPECPATH": str(WINDOWS), **names})  # noqa: S102 - the repository's own spec
    (analysis,) = steps["Analysis"]
    entry = Path(analysis.args[0][0])
    assert entry == WINDOWS / "agent_main.py"
    assert entry.is_file()
    assert "agent.hotkey_windows" in analysis.kwargs["hiddenimports"]
    exes = {exe.kwargs["name"]: exe for exe in steps["EXE"]}
    assert set(exes) == {"silent-alarm-agent", "silent-alarm-agent-cli"}
    assert exes["silent-alarm-agent"].kwargs["console"] is False  # the tray: no window
    assert exes["silent-alarm-agent-cli"].kwargs["console"] is True  # prints where started
    (pyz,) = steps["PYZ"]
    for exe in exes.values():
        assert exe.args[0] is pyz
        assert exe.kwargs["exclude_binaries"] is True
    (collect,) = steps["COLLECT"]
    assert set(collect.args[:2]) == set(exes.values())  # one folder, shared libraries
    assert collect.kwargs["name"] == "silent-alarm-agent"  # the .wxs's dist folder


def _entry(*args: str, appdata: Path) -> subprocess.CompletedProcess[str]:
    env = command_env({"APPDATA": str(appdata), "PYTHONPATH": str(REPO)})
    return subprocess.run(
        [sys.executable, str(WINDOWS / "agent_main.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_the_companions_entry_point_runs_and_prints(tmp_path: Path) -> None:
    done = _entry("--help", appdata=tmp_path)
    assert done.returncode == 0, done.stderr
    for command in ("run", "enrol", "status", "machine-config"):
        assert command in done.stdout
    # Like the Linux wrapper: the user's own file, created empty at first start.
    assert (tmp_path / "SilentAlarm" / "agent.toml").read_text(encoding="utf-8") == ""
    done = _entry("status", appdata=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "silent-alarm-agent: config key 'hub_urls': missing"
    ]
