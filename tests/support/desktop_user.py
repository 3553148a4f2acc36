"""A desktop user of a PC for agent tests: the unprivileged account ``nobody`` with a home
of its own, and a scratch ``/etc/silent-alarm`` beside it that root writes.

The tests run as root on this machine (as software distribution runs ``enrol``);
the agent runs as the logged-in person, never as root. Everything lives in one
folder made with mode 0755, outside pytest's own temporary folders (those are
0700 and root's: another uid could not even reach its home in them).
"""

from __future__ import annotations

import os
import pwd
import shutil
import site
import stat
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHIPPED_POLICY = REPO / "installers" / "linux" / "files" / "agent.toml"
ACCOUNT = "nobody"  # on every Debian; owns nothing, belongs to no group but its own
FOLDER_MODE = 0o755  # /etc/silent-alarm and agent.d/ as the .deb installs them
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's 3.11, what the agent's .deb runs on


def _others_may_run(program: Path) -> bool:
    """Whether any user may run program: every folder on its way searchable by all."""
    real = program.resolve()
    folders = [folder for folder in real.parents if folder != folder.parent]
    if not all(stat.S_IMODE(folder.stat().st_mode) & 0o001 for folder in folders):
        return False
    return bool(stat.S_IMODE(real.stat().st_mode) & 0o001)


def python_for_others() -> tuple[str, dict[str, str]]:
    """An interpreter another user may run, and the environment that gives it our packages.

    The test's own interpreter may live in root's home (pyenv: /root is 0700); then
    Debian's python3 of the same minor version runs the worktree and this venv's packages.
    """
    if _others_may_run(Path(sys.executable)):
        return sys.executable, {}
    path = os.pathsep.join([str(REPO), *site.getsitepackages()])
    return SYSTEM_PYTHON, {"PYTHONPATH": path, "PYTHONNOUSERSITE": "1"}


@dataclass(frozen=True)
class DesktopUser:
    name: str
    uid: int
    gid: int
    home: Path
    etc: Path  # stands in for /etc/silent-alarm, as the agent's .deb leaves it

    @property
    def policy_file(self) -> Path:
        return self.etc / "agent.toml"

    @property
    def machine_dir(self) -> Path:
        return self.etc / "agent.d"

    @property
    def user_file(self) -> Path:
        """What /usr/bin/silent-alarm-agent uses without --config (it creates it empty)."""
        return self.home / ".config" / "silent-alarm" / "agent.toml"

    @property
    def data_dir(self) -> Path:
        return self.home / ".local" / "share" / "silent-alarm"

    @property
    def log_dir(self) -> Path:
        return self.home / ".local" / "state" / "silent-alarm" / "log"

    def system_env(self) -> dict[str, str]:
        """The agent's overrides that point it (and ``enrol``) at the scratch /etc."""
        return {
            "SILENT_ALARM_AGENT_POLICY": str(self.policy_file),
            "SILENT_ALARM_AGENT_MACHINE_CONFIG": str(self.machine_dir),
        }

    def env(self) -> dict[str, str]:
        """A login's environment for this user: its home and XDG folders, the scratch /etc."""
        return {
            **python_for_others()[1],
            **self.system_env(),
            "HOME": str(self.home),
            "USER": self.name,
            "LOGNAME": self.name,
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_STATE_HOME": str(self.home / ".local" / "state"),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "XDG_RUNTIME_DIR": str(self.home / "run"),
            "SILENT_ALARM_AGENT_CONFIG": str(self.user_file),
        }


def _owned_folder(path: Path, uid: int, gid: int, mode: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, uid, gid)
    os.chmod(path, mode)


@pytest.fixture
def desktop_user() -> Iterator[DesktopUser]:
    """``nobody`` with a home holding the empty user file, and a scratch /etc/silent-alarm
    with the shipped policy file (0644) and an empty agent.d/ (0755), both root's."""
    assert os.geteuid() == 0, "these tests start the agent as another user: run them as root"
    account = pwd.getpwnam(ACCOUNT)
    root = Path(tempfile.mkdtemp(prefix="silent-alarm-pc-"))
    try:
        os.chmod(root, FOLDER_MODE)
        user = DesktopUser(
            ACCOUNT, account.pw_uid, account.pw_gid, root / "home", root / "etc-silent-alarm"
        )
        user.machine_dir.mkdir(parents=True)
        os.chmod(user.etc, FOLDER_MODE)
        os.chmod(user.machine_dir, FOLDER_MODE)
        shutil.copyfile(SHIPPED_POLICY, user.policy_file)
        os.chmod(user.policy_file, 0o644)
        # The home is the user's; the agent makes its data and log folders itself.
        for folder in (user.home, user.home / ".config", user.user_file.parent):
            _owned_folder(folder, user.uid, user.gid, FOLDER_MODE)
        _owned_folder(user.home / "run", user.uid, user.gid, 0o700)
        user.user_file.touch()
        os.chown(user.user_file, user.uid, user.gid)
        yield user
    finally:
        shutil.rmtree(root, ignore_errors=True)
