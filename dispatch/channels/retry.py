"""When a failed send is tried again, when it is given up, and when a cut-off send is taken up."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 60.0


class DeliveryState(StrEnum):
    """A queue row's state (``channel_deliveries.state``)."""

    DUE = "due"  # to be sent at due_at
    SENDING = "sending"  # claimed by a hub instance at claimed_at (its lease)
    SENT = "sent"
    FAILED = "failed"  # to be tried again at due_at
    GIVEN_UP = "given_up"  # failed for good: the console shows the reason
    DROPPED = "dropped"  # the alarm ended (resolved, withdrawn) before it went out


WAITING = (DeliveryState.DUE.value, DeliveryState.FAILED.value)
"""States of a row that will still be sent."""


def retry_delay(attempts: int) -> timedelta:
    """After the ``attempts``-th failed attempt: 1 s, doubling up to 60 s."""
    return timedelta(seconds=min(FIRST_DELAY_S * 2 ** max(attempts - 1, 0), MAX_DELAY_S))


def lease(send_timeout: float) -> timedelta:
    """How long a claimed row is another instance's: every send is cut off after
    ``send_timeout`` (and this instance's guard at 1.5 times that), so a row still
    "sending" after twice that was cut off by a crash and is sent again, under the
    same idempotency key."""
    return timedelta(seconds=2 * send_timeout)
