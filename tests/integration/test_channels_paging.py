"""Issue 20 end to end: a real hub's delivery queue pages DECT handsets through ESPA 4.4.4.

The channel's own framing and line handling are tested in tests/integration/test_espa444.py;
here a real hub process, configured only through its settings, calls the local paging
system (tests/support/espa_receiver.py on a loopback port) for an alarm raised by a
real agent connection, by the recipients the admin stored for that level.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from shared.domain import AlarmLevel
from shared.protocol import AlarmStored, IncidentReport, Resolve, utc_now
from tests.integration.conftest import agents_of, set_policy
from tests.integration.test_channels import STORED_TIME, deliveries, until
from tests.support.consoleclient import connect_console
from tests.support.espa_receiver import EspaReceiver, tcp_receiver
from tests.support.hub import start_demo_hub


async def test_a_level_3_alarm_pages_staff_and_security_handsets(tmp_path: Path) -> None:
    """Staff's handset shows the stay-away warning and no room, security's the room; both
    calls arrive within 5 s of the stored-ack, and both rows end `sent`. Resolved, each
    handset gets one more call: the all-clear, for staff again without the room."""
    receiver = EspaReceiver()
    async with tcp_receiver(receiver) as address:
        env = {"SILENT_ALARM_ESPA_ADDRESS": address, "SILENT_ALARM_CHANNEL_SEND_TIMEOUT": "5"}
        hub = await asyncio.to_thread(start_demo_hub, tmp_path / "hub", None, env)
        try:
            set_policy(hub.data_dir, 3, ["security"], [])
            with sqlite3.connect(hub.data_dir / "dispatch.sqlite3") as db:
                for number, audience in (("4711", "staff"), ("4712", "security")):
                    db.execute(
                        "INSERT INTO channel_recipients (site_id, level, after_s, channel,"
                        " address, label, audience, language, created_at)"
                        " VALUES (1, 3, 0, 'espa', ?, '', ?, 'de', ?)",
                        (number, audience, utc_now().strftime(STORED_TIME)),
                    )
            async with agents_of(hub) as connect:
                raiser = await connect("pc-1-01")
                sent = await raiser.raise_alarm(AlarmLevel.DANGER)
                await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)
                stored = time.monotonic()
                await until(lambda: len(receiver.calls) >= 2)
                assert time.monotonic() - stored <= 5.0
                await until(
                    lambda: [r[2] for r in deliveries(hub, sent.alarm_id)] == ["sent", "sent"]
                )
                # The all-clear: one more call to each handset, with the short text.
                console = await connect_console(hub)
                report = IncidentReport(assessed_level=AlarmLevel.DANGER)
                await console.send(Resolve(alarm_id=sent.alarm_id, report=report))
                await until(lambda: len(receiver.calls) >= 4)
                await until(lambda: [r[2] for r in deliveries(hub, sent.alarm_id)] == ["sent"] * 4)
                await console.close()
        finally:
            hub.stop()
    calls = {call.number: call.text for call in receiver.calls[:2]}
    assert set(calls) == {"4711", "4712"}
    assert "1.01" not in calls["4711"]
    assert "Tuer abschliessen" in calls["4711"]  # ascii: umlauts written out
    assert "Raum 1.01" in calls["4712"]
    over = {call.number: call.text for call in receiver.calls[2:]}
    assert set(over) == {"4711", "4712"}
    assert over["4711"].startswith("Entwarnung: Stiller Alarm Stufe 3")
    assert "1.01" not in over["4711"]  # staff: no room, as in the alarm's call
    assert over["4712"] == "Entwarnung: Stiller Alarm Stufe 3 Gefahr / Amok, Raum 1.01, ist beendet"
