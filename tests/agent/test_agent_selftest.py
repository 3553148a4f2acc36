"""The self-test through a real agent on Xvfb: passes via the real hub, fails without an echo."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from shared.domain import AlarmKind, Trigger
from shared.protocol import AgentHealth, RaiseAlarm, Receipt
from tests.support.agentproc import start_agent, write_agent_config
from tests.support.fakehub import fake_hub
from tests.support.hub import RunningHub
from tests.support.xserver import XServer


def test_self_test_at_start_passes_through_the_real_hub(
    tmp_path: Path, demo_hub: RunningHub, xservers: Callable[..., XServer]
) -> None:
    demo = demo_hub.agent_config("pc-1-03")
    config = write_agent_config(
        tmp_path / "agent" / "agent.toml",
        hub_urls=[demo_hub.agent_ws_url],
        workstation_id="pc-1-03",
        token=demo["token"],
        user=demo["user"],
        self_test_interval_h=24,
    )
    agent = start_agent(config, xservers())
    try:
        started = agent.wait_for_log(r"self-test started ", 15.0)
        alarm_id = started.split("self-test started ")[1].strip()
        agent.wait_for_log(f"self-test stored {alarm_id}")
        agent.wait_for_log(f"self-test echo {alarm_id}")
        agent.wait_for_log(f"receipt sent {alarm_id}")
        agent.wait_for_log(f"self-test passed {alarm_id}")
        assert "popup shown" not in agent.log()  # no popup for a self-test
        # Before its first connect the agent is rightly "not protected: no_hub"; after
        # the passed test nothing else is missing.
        assert "self_test_failed" not in agent.log()
        agent.wait_for_log("protection: protected")
        assert agent.stop() == 0
    finally:
        agent.stop()


def test_self_test_without_echo_means_not_protected_and_a_retry(
    tmp_path: Path, xservers: Callable[..., XServer]
) -> None:
    with fake_hub() as hub:
        hub.echo_self_tests = False  # stored, but the path back to the PC is broken
        config = write_agent_config(
            tmp_path / "agent" / "agent.toml",
            hub_urls=[hub.url],
            workstation_id="pc-1-01",
            token="tok-selftest",
            self_test_interval_h=24,
            self_test_timeout_s=1.0,
        )
        agent = start_agent(config, xservers())
        try:
            agent.wait_for_log(r"tray status idle$", 15.0)  # connected: protected for now
            sent = hub.wait_for(lambda m: isinstance(m, RaiseAlarm))
            assert isinstance(sent, RaiseAlarm)
            assert (sent.kind, sent.trigger) == (AlarmKind.SELF_TEST, Trigger.SCHEDULE)
            agent.wait_for_log(r"self-test failed .* no echo within 1 s", 5.0)
            agent.wait_for_log(r"tray status idle, not protected$", 5.0)
            assert hub.count(Receipt) == 0
            # This hub's welcome predates agent_health: the agent never sends one (an
            # older hub would close the socket on the unknown type).
            agent.wait_for_log("protection: self_test_failed$")
            assert hub.count(AgentHealth) == 0
            assert "health sent" not in agent.log()
        finally:
            agent.stop()
