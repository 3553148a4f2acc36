"""bench.hub's command line: the idle scenario and --tls, where a run can serve it."""

from __future__ import annotations

import pytest

from bench.hub import parse_args


def test_idle_connects_ten_thousand_and_raises_nothing_by_default() -> None:
    args = parse_args(["--scenario", "idle"])
    assert (args.agents, args.alarms, args.tls) == (10_000, 0, False)


@pytest.mark.parametrize("scenario", ["idle", "fanout50", "all10k", "storm", "sqlite"])
def test_tls_is_taken_where_the_run_starts_the_hub_and_its_agents(scenario: str) -> None:
    assert parse_args(["--scenario", scenario, "--tls"]).tls is True


@pytest.mark.parametrize("scenario", ["twohubs", "handshakes"])
def test_tls_is_refused_where_the_scenario_opens_plain_sockets_of_its_own(
    scenario: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--scenario", scenario, "--tls"])
    assert f"--tls is not available for {scenario}" in capsys.readouterr().err
