"""The per-address and whole-process caps on connections (dispatch/net/connection_limits.py)."""

from __future__ import annotations

import pytest

from dispatch.net.connection_limits import (
    RESERVED_DESCRIPTORS,
    Addresses,
    ConnectionLedger,
    connection_budget,
)


def test_an_address_at_its_cap_is_refused_while_others_are_let_in() -> None:
    ledger = ConnectionLedger(per_address=2, total=100)
    assert ledger.admit("10.0.0.9")
    assert ledger.admit("10.0.0.9")
    assert not ledger.admit("10.0.0.9")
    assert ledger.admit("10.0.0.1")
    ledger.release("10.0.0.9")
    assert ledger.admit("10.0.0.9")  # a place freed is a place again


def test_the_process_refuses_before_its_descriptors_run_out() -> None:
    ledger = ConnectionLedger(per_address=10, total=3)
    assert all(ledger.admit(f"10.0.0.{i}") for i in range(3))
    assert not ledger.admit("10.0.0.7")
    assert ledger.open == 3


def test_a_handed_over_connection_is_counted_once_and_released_once() -> None:
    ledger = ConnectionLedger(per_address=5, total=5)
    ledger.adopt("10.0.0.9")
    ledger.release("10.0.0.9")
    assert ledger.open == 0
    assert not ledger.by_address


def test_descriptors_are_kept_back_for_the_hubs_own_files() -> None:
    assert connection_budget(1024) == 1024 - RESERVED_DESCRIPTORS
    assert connection_budget(100) == 75  # a small limit keeps a quarter
    assert connection_budget(1_048_576) == 1_048_576 - RESERVED_DESCRIPTORS


def test_a_trusted_proxy_speaks_for_many_clients_and_is_not_capped() -> None:
    ledger = ConnectionLedger(per_address=1, total=10, exempt=Addresses(["10.0.0.0/24"]))
    assert ledger.admit("10.0.0.80")
    assert ledger.admit("10.0.0.80")
    assert ledger.admit("10.0.1.5")
    assert not ledger.admit("10.0.1.5")


def test_the_whole_process_cap_holds_for_proxies_too() -> None:
    ledger = ConnectionLedger(per_address=1, total=2, exempt=Addresses(["*"]))
    assert ledger.admit("10.0.0.80")
    assert ledger.admit("10.0.0.80")
    assert not ledger.admit("10.0.0.80")


def test_a_malformed_proxy_entry_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="SILENT_ALARM_TRUSTED_PROXIES"):
        Addresses(["nginx.local"])
