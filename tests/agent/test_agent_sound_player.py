"""The command player runs a real player program in the background and survives its failures."""

from __future__ import annotations

import time
from pathlib import Path

from agent.sound import CommandPlayer, write_tones
from tests.support.players import fake_player_command
from tests.support.waiting import wait_until


def test_command_player_runs_in_the_background_and_survives_a_failing_player(
    tmp_path: Path,
) -> None:
    command = fake_player_command(tmp_path, exit_code=1)
    tone = write_tones(tmp_path / "tones")["danger"]
    player = CommandPlayer(str(command))
    started = time.monotonic()
    player.play(tone)
    assert time.monotonic() - started < 0.15  # did not wait for the 0.2 s "playback"
    player.play(tone)  # still playing: not started twice
    log = tmp_path / "played.log"
    wait_until(lambda: log.exists() and log.read_text().strip(), 5, what="player ran")
    wait_until(lambda: player._child is not None and player._child.poll() is not None, 5)
    player.play(tone)  # after a failed run it simply tries again
    wait_until(lambda: len(log.read_text().split()) == 2, 5, what="second run")
    assert log.read_text().split() == [str(tone), str(tone)]
    assert player._child is not None
    player._child.wait(5)
    CommandPlayer(str(tmp_path / "missing")).play(tone)  # no such program: logged, no raise
