"""Install, upgrade, remove and purge the packages with dpkg in a throw-away root.

The root is an overlayfs over this machine's / (tests/support/throwaway_root.py): dpkg, its
maintainer scripts, adduser and deb-systemd-helper are this Debian's own. No systemd runs
here, so the unit is started the way its ExecStart and hardening say (user, no privileges,
no capabilities, no writable code), and on upgrade and removal a stand-in for systemctl
records what deb-systemd-invoke asked the real one to do.
"""

from __future__ import annotations

import configparser
import contextlib
import shlex
import shutil
import signal
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.debs import UPGRADE_SUFFIX, VERSION, Debs
from tests.support.hub import free_port
from tests.support.throwaway_root import Root, throwaway_root
from tests.support.waiting import wait_until

UNIT = "silent-alarm-dispatch.service"
UNIT_FILE = f"/lib/systemd/system/{UNIT}"
WANTS = f"/etc/systemd/system/multi-user.target.wants/{UNIT}"
# deb-systemd-helper's record of the links it made (removed by `deb-systemd-helper purge`).
DSH_STATE = f"/var/lib/systemd/deb-systemd-helper-enabled/{UNIT}.dsh-also"
ENV_FILE = "/etc/silent-alarm/dispatch.env"
KEY = "/etc/silent-alarm/audit.key"
DATABASE = "/var/lib/silent-alarm/dispatch.sqlite3"
SYSTEMCTL_LOG = "/var/log/systemctl-calls"
# Stands in for /usr/bin/systemctl (systemd's), which needs a running systemd for start,
# stop and try-restart: it records each call, and says the unit is disabled and stopped.
SYSTEMCTL = f"""#!/bin/sh
echo "$*" >> {SYSTEMCTL_LOG}
case "$*" in
    *is-enabled*) echo disabled; exit 1 ;;
    *is-active*) exit 3 ;;
esac
exit 0
"""
# MemoryDenyWriteExecute= as the kernel's own prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN):
# no mapping may become writable and executable, in this process and what it executes.
MDWE = (
    "import ctypes, os, sys; "
    "ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) == 0 or sys.exit('no MDWE'); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Root]:
    with throwaway_root(tmp_path / "scratch") as made:
        yield made


def install(root: Root, deb: Path) -> subprocess.CompletedProcess[str]:
    shutil.copy(deb, root.inside("/tmp"))
    return root.run("dpkg", "--install", f"/tmp/{deb.name}")


def installed_version(root: Root, package: str) -> str:
    return root.run("dpkg-query", "--showformat", "${Version}", "--show", package).stdout


def owner(root: Root, path: str) -> str:
    return root.run("stat", "--format", "%U:%G %a", path).stdout.strip()


def exists(root: Root, path: str) -> bool:
    return root.inside(path).exists() or root.inside(path).is_symlink()


def systemctl_calls(root: Root) -> list[str]:
    log = root.inside(SYSTEMCTL_LOG)
    calls = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return calls


def with_systemd_stand_in(root: Root) -> None:
    """From now on the maintainer scripts see systemd as running (/run/systemd/system)."""
    root.inside("/run/systemd/system").mkdir(parents=True)
    # A policy-rc.d of this machine's image (exit 101: "no services in a container") would
    # make deb-systemd-invoke skip every call; a server has none.
    root.inside("/usr/sbin/policy-rc.d").unlink(missing_ok=True)
    systemctl = root.inside("/usr/bin/systemctl")
    systemctl.unlink()
    systemctl.write_text(SYSTEMCTL, encoding="utf-8")
    systemctl.chmod(0o755)


@contextlib.contextmanager
def hub_as_the_unit_runs_it(root: Root, log: Path) -> Iterator[int]:
    """The unit's ExecStart with its user, folders and hardening; yields the hub's port."""
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read_string(root.inside(UNIT_FILE).read_text(encoding="utf-8"))
    service = unit["Service"]
    assert service["MemoryDenyWriteExecute"] == "true"
    assert service["CapabilityBoundingSet"] == ""
    # The harness's own check: the flag survives the exec into the hub (PR_GET_MDWE).
    mdwe = "import ctypes; print(ctypes.CDLL(None).prctl(66, 0, 0, 0, 0))"
    assert root.run("/usr/bin/python3", "-c", MDWE, "/usr/bin/python3", "-c", mdwe).stdout == "1\n"
    port = free_port()
    env = root.inside(ENV_FILE)
    env.write_text(
        env.read_text(encoding="utf-8")
        + f"SILENT_ALARM_SESSION_SECRET={'s' * 48}\n"
        + f"SILENT_ALARM_HOST=127.0.0.1\nSILENT_ALARM_PORT={port}\n",
        encoding="utf-8",
    )
    # StateDirectory= and LogsDirectory=, as systemd makes them before ExecStart.
    for folder, mode in [
        (f"/var/lib/{service['StateDirectory']}", service["StateDirectoryMode"]),
        (f"/var/log/{service['LogsDirectory']}", service["LogsDirectoryMode"]),
    ]:
        root.run("install", "-d", "-o", service["User"], "-g", service["Group"], "-m", mode, folder)
    hub = root.start(
        *("setpriv", "--reuid", service["User"], "--regid", service["Group"], "--init-groups"),
        *("--no-new-privs", "--bounding-set", "-all", "--inh-caps", "-all", "--"),
        *("/usr/bin/python3", "-c", MDWE),
        *shlex.split(service["ExecStart"]),
        log=log,
    )
    try:
        with httpx.Client(timeout=2) as probe:  # one client for every probe (hub.py)

            def ready() -> bool:
                assert hub.poll() is None, log.read_text(encoding="utf-8")
                with contextlib.suppress(httpx.HTTPError):
                    return probe.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
                return False

            wait_until(ready, timeout=60, interval=0.2, what="the packaged hub ready")
        yield port
    finally:
        hub.send_signal(signal.SIGTERM)
        try:
            hub.wait(15)
        except subprocess.TimeoutExpired:
            hub.kill()
            hub.wait(5)


# The first test to use it builds the hub package with its venv: about a minute on an
# idle machine, several under a loaded one.
@pytest.mark.timeout(900)
def test_hub_package_install_upgrade_remove_purge(
    root: Root, hub_deb: Path, hub_deb_upgrade: Path, tmp_path: Path
) -> None:
    # First install: the system user, the audit key, the unit enabled (no systemd running).
    install(root, hub_deb)
    assert (
        root.run("getent", "passwd", "silent-alarm").stdout.split(":")[5] == "/var/lib/silent-alarm"
    )
    assert owner(root, KEY) == "root:silent-alarm 640"
    assert owner(root, ENV_FILE) == "root:silent-alarm 640"
    assert root.inside(WANTS).is_symlink()
    assert exists(root, DSH_STATE)
    assert exists(root, "/usr/share/man/man1/silent-alarm-dispatch.1.gz")

    # The packaged hub starts under the unit's settings and hardening; the admin's CLI
    # (the wrapper, run by root) acts on its database.
    with hub_as_the_unit_runs_it(root, tmp_path / "hub.log"):
        added = root.run(
            *("silent-alarm-dispatch", "operator", "add", "anna", "--role", "admin"),
            *("--name", "Anna Admin"),
            stdin="a long password for anna\n",
        )
        assert DATABASE in added.stdout + added.stderr
    assert owner(root, DATABASE).startswith("silent-alarm:silent-alarm")

    # The admin turns the service off for good; the upgrade must not turn it back on.
    root.run("systemctl", "disable", UNIT)
    assert not root.inside(WANTS).is_symlink()
    admins_env = root.inside(ENV_FILE).read_text(encoding="utf-8")

    with_systemd_stand_in(root)
    install(root, hub_deb_upgrade)
    assert installed_version(root, "silent-alarm-dispatch") == VERSION + UPGRADE_SUFFIX
    calls = systemctl_calls(root)
    assert f"try-restart {UNIT}" in calls  # restarted if it runs, left stopped if not
    assert not [call for call in calls if call.split()[0] in {"start", "restart", "enable"}]
    assert not root.inside(WANTS).is_symlink()  # still disabled
    assert root.inside(ENV_FILE).read_text(encoding="utf-8") == admins_env  # conffile kept
    verified = root.run("silent-alarm-dispatch", "audit", "verify", check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr  # the data came along

    # Remove: stopped first, then systemd told; the configuration and the records stay.
    root.run("dpkg", "--remove", "silent-alarm-dispatch")
    calls = systemctl_calls(root)
    assert calls.index(f"stop {UNIT}") < calls.index("--system daemon-reload")
    assert not exists(root, "/opt/silent-alarm/dispatch")
    assert not exists(root, "/usr/bin/silent-alarm-dispatch")
    assert root.inside(ENV_FILE).read_text(encoding="utf-8") == admins_env
    assert exists(root, DATABASE)
    assert exists(root, KEY)

    # Purge: the configuration and systemd's state go; the records, their key and the
    # user that owns them stay (docs/operations.md "Remove and purge"), and it says so.
    purged = root.run("dpkg", "--purge", "silent-alarm-dispatch")
    assert not exists(root, ENV_FILE)
    assert not exists(root, DSH_STATE)
    assert exists(root, DATABASE)
    assert exists(root, KEY)
    assert root.run("getent", "passwd", "silent-alarm", check=False).returncode == 0
    assert (
        "purge kept the alarm records and their audit key: /var/lib/silent-alarm "
        f"/var/log/silent-alarm {KEY}"
    ) in purged.stderr


def test_hub_purge_of_an_unused_install_leaves_only_the_key(root: Root, layout_debs: Debs) -> None:
    install(root, layout_debs["silent-alarm-dispatch"])
    root.run("dpkg", "--purge", "silent-alarm-dispatch")
    assert not exists(root, "/var/lib/silent-alarm")
    assert not exists(root, "/var/log/silent-alarm")
    assert sorted(p.name for p in root.inside("/etc/silent-alarm").iterdir()) == ["audit.key"]


def test_agent_package_install_upgrade_remove_purge(
    root: Root, layout_debs: Debs, layout_debs_upgrade: Debs
) -> None:
    install(root, layout_debs["silent-alarm-agent"])
    policy = root.inside("/etc/silent-alarm/agent.toml")
    autostart = root.inside("/etc/xdg/autostart/silent-alarm-agent.desktop")
    enrolment = root.inside("/etc/silent-alarm/agent.d/50-enrolment.toml")
    assert stat.S_IMODE(policy.stat().st_mode) == 0o644
    # The admin's edits, and what `enrol` run as root wrote.
    policy.write_text(policy.read_text(encoding="utf-8") + 'language = "en"\n', encoding="utf-8")
    autostart.write_text(
        autostart.read_text(encoding="utf-8").replace(
            "Terminal=false", "Terminal=false\nHidden=true"
        ),
        encoding="utf-8",
    )
    enrolment.write_text('workstation_id = "pc-2-14"\ntoken = "secret"\n', encoding="utf-8")
    edited = {path: path.read_text(encoding="utf-8") for path in (policy, autostart, enrolment)}

    install(root, layout_debs_upgrade["silent-alarm-agent"])
    assert installed_version(root, "silent-alarm-agent") == VERSION + UPGRADE_SUFFIX
    assert {path: path.read_text(encoding="utf-8") for path in edited} == edited

    root.run("dpkg", "--remove", "silent-alarm-agent")
    assert not exists(root, "/usr/bin/silent-alarm-agent")
    assert {path: path.read_text(encoding="utf-8") for path in edited} == edited

    root.run("dpkg", "--purge", "silent-alarm-agent")
    assert not exists(root, "/etc/xdg/autostart/silent-alarm-agent.desktop")
    assert not exists(root, "/etc/silent-alarm")  # the enrolment (device secret) went too
