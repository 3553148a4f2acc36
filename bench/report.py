"""What a run prints while it goes: progress lines and latency percentiles."""

from __future__ import annotations

from typing import Any


def say(text: str) -> None:
    print(text, flush=True)


def print_latency(label: str, result: dict[str, Any]) -> None:
    stored, last = result["stored_ack_ms"], result["last_recipient_ms"]
    say(
        f"{label}: stored-ack  p50 {stored['p50']:.2f}  p90 {stored['p90']:.2f}  "
        f"p99 {stored['p99']:.2f}  max {stored['max']:.2f} ms (n={stored['n']})"
    )
    say(
        f"{label}: last recip. p50 {last['p50']:.2f}  p90 {last['p90']:.2f}  "
        f"p99 {last['p99']:.2f}  max {last['max']:.2f} ms (n={last['n']}, "
        f"incomplete {result['incomplete_fanouts']}, duplicates {result['duplicates']}, "
        f"closes {result['closes']}, errors {result['errors']})"
    )
