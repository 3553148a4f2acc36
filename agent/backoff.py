"""Full-jitter reconnect delays between a floor and a cap, so a hub restart is not stormed."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

RETRY_AFTER_JITTER = 1.0
"""A busy hub's Retry-After is whole seconds; agents told the same number spread over the
second after it, so they do not all come back at the same instant."""


def retry_after_seconds(header: str | None) -> float | None:
    """The delay a 503's ``Retry-After`` asks for, if it is given in seconds.

    The hub sends whole seconds; an HTTP date (the header's other form) or
    anything unreadable is ignored, and the agent's own backoff applies.
    """
    if header is None:
        return None
    text = header.strip()
    if not text.isascii() or not text.isdigit():
        return None
    return float(text)


@dataclass
class Backoff:
    """Delay n is uniform in [floor, min(cap, base * 2**n)]; reset after a good session."""

    floor: float = 0.5
    cap: float = 20.0
    base: float = 1.0
    rng: random.Random = field(default_factory=random.Random, repr=False)
    attempt: int = 0

    def next_delay(self) -> float:
        upper = min(self.cap, self.base * 2 ** min(self.attempt, 32))
        self.attempt += 1
        # Full jitter spreads thousands of agents evenly across the window.
        return self.rng.uniform(self.floor, max(self.floor, upper))

    def retry_after(self, seconds: float) -> float:
        """The delay after a busy hub said when to come back (503 with Retry-After).

        The hub spreads the agents it refuses over the time it needs for them
        (dispatch/net/admission.py), so its word beats a guess: the delay is its
        Retry-After plus up to RETRY_AFTER_JITTER, never above the cap (nor
        held up by the floor, which is for hubs that said nothing). The attempt
        count does not grow: the hub is up and answering, and a later failure
        of another kind still backs off from where it was.
        """
        return min(self.cap, max(0.0, seconds) + self.rng.uniform(0.0, RETRY_AFTER_JITTER))

    def reset(self) -> None:
        self.attempt = 0
