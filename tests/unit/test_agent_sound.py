"""Alarm sounds: distinct WAV tones, a repeat that stops when answered, players that never block."""

from __future__ import annotations

import os
import queue
import time
import wave
from pathlib import Path

import pytest

from agent.sound import (
    AlarmSound,
    BeepPlayer,
    choose_player,
    tone_name,
    write_tones,
)
from shared.domain import AlarmLevel
from tests.support.players import RecordingPlayer, fake_player_command
from tests.support.waiting import wait_until


def test_tones_are_valid_wav_and_differ_by_level(tmp_path: Path) -> None:
    tones = write_tones(tmp_path)
    assert set(tones) == {"alarm", "danger"}
    frames = {}
    for name, path in tones.items():
        with wave.open(str(path)) as wav:
            assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 22050)
            assert 0.3 < wav.getnframes() / wav.getframerate() < 2.0
            frames[name] = wav.readframes(wav.getnframes())
    assert frames["alarm"] != frames["danger"]
    assert tone_name(AlarmLevel.SUPPORT) == tone_name(AlarmLevel.THREAT) == "alarm"
    assert tone_name(AlarmLevel.DANGER) == "danger"


def test_repeats_until_stopped_and_switches_to_the_danger_tone(tmp_path: Path) -> None:
    player = RecordingPlayer()
    sound = AlarmSound(player, write_tones(tmp_path), interval=0.05)
    try:
        sound.play(AlarmLevel.THREAT)
        assert [player.played.get(timeout=5) for _ in range(3)] == ["alarm"] * 3  # repeats
        sound.play(AlarmLevel.DANGER)
        wait_until(lambda: player.played.get(timeout=5) == "danger", 5, what="danger tone")
        sound.stop()
        assert sound.level is None
        while not player.played.empty():  # at most one repeat was already on its way
            player.played.get()
        # Silence: no repeat within ten intervals (a bounded wait for what must not come).
        with pytest.raises(queue.Empty):
            player.played.get(timeout=0.5)
    finally:
        sound.close()


def test_play_returns_at_once_and_a_failing_player_is_survived(tmp_path: Path) -> None:
    class Broken:
        name = "broken"
        calls = 0

        def play(self, path: Path) -> None:
            Broken.calls += 1
            raise OSError("no audio device")

    sound = AlarmSound(Broken(), write_tones(tmp_path), interval=0.01)
    try:
        started = time.monotonic()
        sound.play(AlarmLevel.DANGER)
        assert time.monotonic() - started < 0.05
        wait_until(lambda: Broken.calls >= 3, 5, what="repeats despite the failure")
    finally:
        sound.close()


def test_player_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    beeps: list[int] = []
    assert choose_player(lambda: beeps.append(1), platform="win32").name == "winsound"
    command = fake_player_command(tmp_path, exit_code=0)
    monkeypatch.setenv("PATH", f"{command.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    assert choose_player(lambda: None, platform="linux").name == "paplay"
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no player program at all
    player = choose_player(lambda: beeps.append(1), platform="linux")
    assert isinstance(player, BeepPlayer)
    player.play(Path("ignored.wav"))
    assert beeps == [1]
