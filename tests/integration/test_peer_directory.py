"""The hub's peer directories (issue 16) against a real hub: only for agents that listen,
naming only listening neighbours (and security), with the site's derived key."""

from __future__ import annotations

from dispatch.store.audit_key import load
from dispatch.store.peer_key import PEER_KEY_FILE, site_key
from shared.protocol import PeerAddress, PeerDirectory, PeerListen
from tests.support.hub import RunningHub, query
from tests.support.wsclient import AgentClient, connect_agent


async def _agent(hub: RunningHub, workstation_id: str) -> AgentClient:
    token = hub.agent_config(workstation_id)["token"]
    return await connect_agent(hub.agent_ws_url, workstation_id, token)


async def test_listening_neighbours_are_listed_with_their_port_and_the_site_key(
    demo_hub: RunningHub,
) -> None:
    raiser = await _agent(demo_hub, "pc-1-01")
    silent = await _agent(demo_hub, "pc-1-03")  # never sends peer_listen
    try:
        assert raiser.welcome.peer_directory
        await raiser.send(PeerListen(port=40001))
        first = await raiser.expect(PeerDirectory)
        assert first.peers == []  # its neighbour 1.02 is not connected yet
        [(site_id,)] = query(demo_hub, "SELECT site_id FROM workstations WHERE id = 'pc-1-01'")
        assert isinstance(site_id, int)
        secret = load(demo_hub.data_dir / PEER_KEY_FILE)
        assert first.site_id == site_id
        assert first.key_epoch == 0
        assert bytes.fromhex(first.site_key.get_secret_value()) == site_key(secret, site_id, 0)

        neighbour = await _agent(demo_hub, "pc-1-02")
        other = await _agent(demo_hub, "pc-1-04")  # no neighbour of 1.01
        await other.send(PeerListen(port=40004))
        await neighbour.send(PeerListen(port=40002))
        own = await neighbour.expect(PeerDirectory)
        assert PeerAddress(workstation_id="pc-1-01", address="127.0.0.1", port=40001) in own.peers
        updated = await raiser.expect(PeerDirectory, timeout=5)
        assert updated.peers == [
            PeerAddress(workstation_id="pc-1-02", address="127.0.0.1", port=40002)
        ]
        # The round that told the raiser is over: an agent that never listened got nothing.
        await silent.flush()
        assert not [m for m in silent.received if isinstance(m, PeerDirectory)]

        await neighbour.close()  # it no longer listens: the raiser's list shrinks
        assert (await raiser.expect(PeerDirectory, timeout=5)).peers == []
        await other.close()
    finally:
        await raiser.close()
        await silent.close()
