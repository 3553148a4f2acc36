"""Full-jitter reconnect delays between a floor and a cap, so a hub restart is not stormed."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


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

    def reset(self) -> None:
        self.attempt = 0
