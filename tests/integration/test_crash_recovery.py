"""A hub killed without warning loses no alarm it acknowledged as stored."""

from __future__ import annotations

from pathlib import Path

from shared.protocol import AlarmNotify, AlarmStored
from tests.support.hub import start_demo_hub
from tests.support.wsclient import connect_agent


async def test_alarm_acknowledged_before_sigkill_is_delivered_after_restart(
    tmp_path: Path,
) -> None:
    hub = start_demo_hub(tmp_path / "hub")
    try:
        raiser_config = hub.agent_config("pc-1-01")
        raiser = await connect_agent(
            hub.agent_ws_url, "pc-1-01", raiser_config["token"], raiser_config["user"]
        )
        sent = await raiser.raise_alarm()
        await raiser.expect(AlarmStored)
        hub.kill()  # SIGKILL straight after the stored-ack: no shutdown code runs

        hub = start_demo_hub(tmp_path / "hub", port=hub.port)
        neighbour_config = hub.agent_config("pc-1-02")
        neighbour = await connect_agent(hub.agent_ws_url, "pc-1-02", neighbour_config["token"])
        notify = await neighbour.expect(AlarmNotify, alarm_id=sent.alarm_id)
        assert notify.room is not None
        assert notify.room.number == "1.01"
        await neighbour.close()
    finally:
        hub.stop()
