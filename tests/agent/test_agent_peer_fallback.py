"""The second path (issue 16): with every hub down, the raiser's agent alarms its neighbours
directly; the hub, once back, stores the alarm once. Real hub, real agents on Xvfb.

Each agent listens for its neighbours and reaches the hub from a loopback address
of its own (``bind_address``), so the hub sees three PCs at three addresses, as on
a LAN. Demo site: 1.01 and 1.02 are neighbours, 1.04 is not a neighbour of 1.01.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.peer_frame import PeerAlarm, seal
from agent.peer_state import STATE_FILE
from dispatch.store.audit_key import load
from dispatch.store.peer_key import PEER_KEY_FILE, site_key
from shared.domain import AlarmLevel
from shared.protocol import RoomRef
from tests.support.agentproc import RunningAgent, start_agent, write_agent_config
from tests.support.hub import RunningHub, free_port, query, start_demo_hub
from tests.support.waiting import wait_until
from tests.support.xserver import XServer, wait_for_window

DIRECT_LIMIT = 5.0  # GOALS.md: neighbours get the alarm directly ≤ 5 s after the press
STORED_LIMIT = 10.0  # the hub restarting, then the raiser's reconnect (≤ 2 s apart) and store
POPUP_TITLE = "^Stiller Alarm – Raum 1.01$"
HUB_ENV = {"SILENT_ALARM_HEARTBEAT_INTERVAL": "1"}  # quick supervision rounds (the revocation)

ADDRESSES = {"pc-1-01": "127.0.0.11", "pc-1-02": "127.0.0.12", "pc-1-04": "127.0.0.14"}


@dataclass
class Site:
    tmp_path: Path
    hub: RunningHub
    peer_port: int
    xservers: Callable[..., XServer]

    def agent(self, workstation_id: str) -> tuple[RunningAgent, XServer]:
        demo = self.hub.agent_config(workstation_id)
        config = write_agent_config(
            self.tmp_path / workstation_id / "agent.toml",
            hub_urls=demo["hub_urls"],
            workstation_id=workstation_id,
            token=demo["token"],
            user=demo["user"],
            hotkey=demo["hotkey"],
            hotkey_level=demo["hotkey_level"],
            peer_port=self.peer_port,
            bind_address=ADDRESSES[workstation_id],
        )
        x = self.xservers()
        return start_agent(config, x), x

    def restart_hub(self) -> None:
        self.hub = start_demo_hub(self.hub.data_dir, port=self.hub.port, env=HUB_ENV)


def free_peer_port() -> int:
    """A port free on every test address (each agent binds its own loopback address)."""
    while True:
        port = free_port()
        try:
            for address in ADDRESSES.values():
                with socket.socket() as probe:
                    probe.bind((address, port))
        except OSError:
            continue
        return port


@pytest.fixture
def site(tmp_path: Path, xservers: Callable[..., XServer], demo_template: Path) -> Iterator[Site]:
    hub = start_demo_hub(tmp_path / "hub", env=HUB_ENV, template=demo_template)
    running = Site(tmp_path, hub, free_peer_port(), xservers)
    try:
        yield running
    finally:
        running.hub.stop()


def alarm_rows(hub: RunningHub, alarm_id: str) -> object:
    [(count,)] = query(
        hub, "SELECT COUNT(*) FROM alarms WHERE id IN (?, ?)", alarm_id, alarm_id.replace("-", "")
    )
    return count


def stop_all(agents: list[RunningAgent]) -> None:
    for agent in agents:
        agent.stop()


def test_with_the_hub_killed_the_neighbour_gets_the_alarm_directly_and_the_hub_stores_it_once(
    site: Site,
) -> None:
    raiser, raiser_x = site.agent("pc-1-01")
    neighbour, neighbour_x = site.agent("pc-1-02")
    other, _ = site.agent("pc-1-04")
    agents = [raiser, neighbour, other]
    try:
        for agent in agents:
            agent.wait_for_log("connected to hub")
            agent.wait_for_log("hotkey listening")
            agent.wait_for_log("peer listener on 127.0.0.")
        # The hub saw the neighbour at its own address and told the raiser (security is
        # offline, 1.04 is no neighbour of 1.01: one peer).
        raiser.wait_for_log(r"peer directory: 1 peers")
        since = {id(agent): agent.log_size() for agent in agents}

        site.hub.kill()  # SIGKILL: every hub is unreachable
        for agent in agents:
            agent.wait_for_log("disconnected from hub", since=since[id(agent)])
        pressed = time.monotonic()
        raiser_x.xdotool("key", "ctrl+alt+p")
        wait_for_window(neighbour_x.display, POPUP_TITLE, timeout=DIRECT_LIMIT)
        took = time.monotonic() - pressed
        print(f"press -> neighbour's popup, no hub: {took:.2f} s")
        assert took <= DIRECT_LIMIT

        queued = raiser.wait_for_log(r"alarm queued ")
        alarm_id = str(uuid.UUID(re.search(r"queued (\S+)", queued)[1]))  # type: ignore[index]
        shown = neighbour.wait_for_log(f"popup text {alarm_id}: ")
        assert "Zentrale nicht erreichbar | " in shown
        # The raiser counts acknowledgements only, and says so on its screen.
        raiser.wait_for_log(f"alarm {alarm_id} sent to peers directly: 1 of 1 acknowledged")
        raiser.wait_for_log(
            rf"raiser notice {alarm_id} .*Nachbarn direkt benachrichtigt \(1 von 1\)"
        )
        # Every peer the raiser will ever try has answered: 1.04 was never sent anything.
        assert "peer alarm" not in other.log()
        assert "peer frame" not in other.log()
        assert "popup text" not in other.log()
        assert [alarm.alarm_id for alarm in raiser.pending()] == [uuid.UUID(alarm_id)]

        site.restart_hub()
        raiser.wait_for_log(f"alarm stored {alarm_id}", STORED_LIMIT)
        # The neighbour's agent reconnects, and the hub's notify finds the popup it has.
        neighbour.wait_for_log(f"popup {alarm_id}: the hub has it now", STORED_LIMIT)
        rows = query(
            site.hub,
            "SELECT COUNT(*) FROM alarms WHERE id IN (?, ?)",
            alarm_id,
            alarm_id.replace("-", ""),
        )
        assert rows == [(1,)]  # stored exactly once
        assert neighbour.log().count(f"popup text {alarm_id}") == 1
        windows = neighbour_x.xdotool("search", "--name", POPUP_TITLE, check=False)
        assert len(windows.stdout.split()) == 1
        assert raiser.pending() == []
        assert "(duplicate)" not in raiser.log()
    finally:
        stop_all(agents)


def test_a_frozen_hub_that_stores_nothing_for_3_s_makes_the_raiser_alarm_directly(
    site: Site,
) -> None:
    """The hub still looks connected (SIGSTOP): the direct path starts when the 3 s for
    ``alarm_stored`` are up, still within 5 s of the press."""
    raiser, raiser_x = site.agent("pc-1-01")
    neighbour, neighbour_x = site.agent("pc-1-02")
    agents = [raiser, neighbour]
    try:
        for agent in agents:
            agent.wait_for_log("hotkey listening")
        raiser.wait_for_log(r"peer directory: 1 peers")
        os.kill(site.hub.process.pid, signal.SIGSTOP)
        pressed = time.monotonic()
        raiser_x.xdotool("key", "ctrl+alt+p")
        wait_for_window(neighbour_x.display, POPUP_TITLE, timeout=DIRECT_LIMIT)
        took = time.monotonic() - pressed
        print(f"press -> neighbour's popup, frozen hub: {took:.2f} s")
        assert took <= DIRECT_LIMIT
        queued = raiser.wait_for_log(r"alarm queued ")
        alarm_id = str(uuid.UUID(re.search(r"queued (\S+)", queued)[1]))  # type: ignore[index]
        raiser.wait_for_log(f"alarm {alarm_id} not stored within 3 s")
        raiser.wait_for_log(f"alarm {alarm_id} sent to peers directly: 1 of 1 acknowledged")

        os.kill(site.hub.process.pid, signal.SIGCONT)
        raiser.wait_for_log(f"alarm stored {alarm_id}", STORED_LIMIT)
        neighbour.wait_for_log(f"popup {alarm_id}: the hub has it now", STORED_LIMIT)
        assert alarm_rows(site.hub, alarm_id) == 1
        assert neighbour.log().count(f"popup text {alarm_id}") == 1
    finally:
        os.kill(site.hub.process.pid, signal.SIGCONT)
        stop_all(agents)


def test_an_agent_restarted_during_the_outage_alarms_its_neighbours_from_what_it_kept(
    site: Site,
) -> None:
    """The directory and key are on disk (0600): a restart while no hub answers keeps the
    direct path. The alarm comes through ``trigger``, forwarded to the restarted agent."""
    raiser, raiser_x = site.agent("pc-1-01")
    neighbour, neighbour_x = site.agent("pc-1-02")
    agents = [raiser, neighbour]
    try:
        raiser.wait_for_log(r"peer directory: 1 peers")
        state = raiser.data_dir / STATE_FILE
        wait_until(
            lambda: b'"port"' in state.read_bytes() if state.exists() else None,
            5.0,
            what="the directory with its peer on disk",
        )  # written right after the log
        assert stat.S_IMODE(state.stat().st_mode) == 0o600
        site.hub.kill()
        raiser.wait_for_log("disconnected from hub")
        raiser.kill()
        raiser = agents[0] = start_agent(raiser.config_path, raiser_x)
        raiser.wait_for_log("peer directory from disk: 1 peers")
        raiser.wait_for_log("agent running as workstation")
        pressed = time.monotonic()
        trigger = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "trigger", "--config", str(raiser.config_path)],
            env=raiser_x.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_window(neighbour_x.display, POPUP_TITLE, timeout=DIRECT_LIMIT)
            took = time.monotonic() - pressed
            print(f"trigger -> neighbour's popup, restarted raiser: {took:.2f} s")
            assert trigger.wait(30) == 3  # not stored: no hub; the outbox keeps it
        finally:
            if trigger.poll() is None:
                trigger.kill()
        shown = neighbour.wait_for_log("popup text ")
        assert "Zentrale nicht erreichbar | " in shown
        raiser.wait_for_log(r"sent to peers directly: 1 of 1 acknowledged")
    finally:
        stop_all(agents)


def _frame(key: bytes, site_id: int, alarm_id: uuid.UUID, sent_at: float) -> bytes:
    alarm = PeerAlarm(
        alarm_id=alarm_id,
        sender="pc-1-01",
        site_id=site_id,
        sent_at=sent_at,
        level=AlarmLevel.THREAT,
        room=RoomRef(number="1.01", name="Beratung 1", floor="1. OG"),
        raiser="Frau Albers",
        raised_at=datetime.now(UTC),
    )
    return seal(alarm, key)


def _send(port: int, frame: bytes) -> bytes:
    with socket.create_connection((ADDRESSES["pc-1-02"], port), timeout=5) as connection:
        connection.sendall(frame)
        connection.shutdown(socket.SHUT_WR)
        return connection.recv(8192)


def test_forged_replayed_and_other_site_frames_show_no_popup_and_revocation_rotates_the_key(
    site: Site,
) -> None:
    neighbour, neighbour_x = site.agent("pc-1-02")
    try:
        neighbour.wait_for_log(r"peer directory: \d+ peers, key epoch 0")
        neighbour.wait_for_log("peer listener on 127.0.0.12")
        (site_id,) = query(site.hub, "SELECT site_id FROM workstations WHERE id = 'pc-1-02'")[0]
        assert isinstance(site_id, int)
        secret = load(site.hub.data_dir / PEER_KEY_FILE)  # the hub's secret, read as an admin
        key = site_key(secret, site_id, 0)
        assert key.hex() not in site.hub.log()  # never logged
        assert key.hex() not in neighbour.log()

        def refused(frame: bytes, reason: str) -> None:
            since = neighbour.log_size()
            assert _send(site.peer_port, frame) == b""  # no acknowledgement
            neighbour.wait_for_log(f"peer frame from 127.0.0.1 refused: {reason}", since=since)

        forged = uuid.uuid4()
        refused(_frame(bytes(32), site_id, forged, time.time()), "bad_mac")  # a guessed key
        other_site = site_key(secret, site_id + 1, 0)  # an insider of another site
        refused(_frame(other_site, site_id + 1, forged, time.time()), "bad_mac")
        refused(_frame(key, site_id, forged, time.time() - 600), "stale")  # a recording replayed
        refused(b"x" * 9000 + b"\n", "oversize")

        # A genuine frame is shown once; the same frame again is acknowledged, not shown again.
        genuine = uuid.uuid4()
        frame = _frame(key, site_id, genuine, time.time())
        assert _send(site.peer_port, frame).endswith(b"\n")
        wait_for_window(neighbour_x.display, POPUP_TITLE, timeout=DIRECT_LIMIT)
        assert _send(site.peer_port, frame).endswith(b"\n")
        neighbour.wait_for_log(f"peer alarm {genuine} again from pc-1-01: already shown")
        assert neighbour.log().count("popup text ") == 1  # the forged ones never showed
        assert f"popup text {genuine}: " in neighbour.log()

        # Revoking a PC of the site rotates its key: the old key no longer opens anything.
        assert site.hub.cli("workstation", "revoke", "pc-1-05").returncode == 0
        neighbour.wait_for_log(r"peer directory: \d+ peers, key epoch 1", timeout=10)
        refused(_frame(key, site_id, uuid.uuid4(), time.time()), "bad_mac")
        wait_until(lambda: neighbour.process.poll() is None, 1.0, what="agent alive")
    finally:
        neighbour.stop()
