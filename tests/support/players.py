"""Stand-ins for the sound device, which the test machines lack: a player that records the
tones in the test process, and a real program in place of paplay."""

from __future__ import annotations

import queue
import stat
from pathlib import Path


class RecordingPlayer:
    """Records each tone played (by the WAV file's stem: "alarm" or "danger")."""

    name = "recording"

    def __init__(self) -> None:
        self.played: queue.Queue[str] = queue.Queue()

    def play(self, path: Path) -> None:
        self.played.put(path.stem)

    def next_tone(self) -> str:
        return self.played.get(timeout=5)


def fake_player_command(tmp_path: Path, exit_code: int) -> Path:
    """A real executable in place of paplay: it logs its argument and exits (an audio-less
    machine's paplay exits non-zero the same way)."""
    log = tmp_path / "played.log"
    script = tmp_path / "bin" / "paplay"
    script.parent.mkdir()
    script.write_text(f'#!/bin/sh\necho "$1" >> {log}\nsleep 0.2\nexit {exit_code}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script
