"""Full-jitter reconnect delays under a short cap: back soon after a hub restart, yet spread."""

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


RETRY_AFTER_CAP = 20.0
"""The longest a busy hub's Retry-After is followed: a hub that says when it has room is up."""


@dataclass
class Backoff:
    """Delay n is uniform in [floor, min(cap, base * 2**n)]; reset after a good session.

    The cap is short because every agent is also a recipient: after a hub restart
    the neighbours' popups wait for their agents to be back, and GOALS.md gives
    them 5 s after the hub listens again, however long it was down. With a 20 s
    cap they came back up to 13.5 s late. Full jitter over 0.5–4 s spreads 10,000
    agents at about 2,500 a second, which the hub's admission gate meters with
    Retry-After (followed up to ``RETRY_AFTER_CAP``); a refused connect to a hub
    that is down costs one SYN.
    """

    floor: float = 0.5
    cap: float = 4.0
    base: float = 1.0
    retry_after_cap: float = RETRY_AFTER_CAP
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
        Retry-After plus up to RETRY_AFTER_JITTER, never above ``retry_after_cap``
        (nor held up by the floor, which is for hubs that said nothing). The attempt
        count does not grow: the hub is up and answering, and a later failure
        of another kind still backs off from where it was.
        """
        return min(
            self.retry_after_cap,
            max(0.0, seconds) + self.rng.uniform(0.0, RETRY_AFTER_JITTER),
        )

    def reset(self) -> None:
        self.attempt = 0
