"""The hub's list of reasons why a workstation is not protected (coverage board)."""

from __future__ import annotations

from dispatch.live.protection import unprotected_reasons
from dispatch.net.bus import WorkstationChanged, decode, encode


def test_online_with_nothing_reported_is_protected() -> None:
    assert unprotected_reasons(online=True) == []
    assert unprotected_reasons(online=True, has_room=True, self_test_ok=True) == []


def test_offline_is_the_only_reason_while_offline() -> None:
    assert unprotected_reasons(online=False, agent=["hotkey_unavailable"], has_room=False) == [
        "offline"
    ]


def test_agent_and_hub_reasons_together_without_duplicates() -> None:
    reasons = unprotected_reasons(
        online=True, agent=["hotkey_unavailable", "no_room"], has_room=False, self_test_ok=False
    )
    assert reasons == ["hotkey_unavailable", "no_room", "self_test_failed"]


def test_the_hubs_mapping_outranks_an_agents_stale_no_room() -> None:
    assert unprotected_reasons(online=True, agent=["no_room"], has_room=True) == []
    assert unprotected_reasons(online=True, agent=["no_room"]) == ["no_room"]  # not known here


def test_agent_reasons_cross_hub_instances_on_the_bus() -> None:
    event = WorkstationChanged(
        workstation_id="pc-1",
        online=True,
        agent_reasons=("no_tray",),
        instance="a",
    )
    decoded = decode(encode(event))
    assert isinstance(decoded, WorkstationChanged)
    assert decoded.agent_reasons == ("no_tray",)
    plain = decode(encode(WorkstationChanged(workstation_id="pc-1")))
    assert isinstance(plain, WorkstationChanged)
    assert plain.agent_reasons is None
