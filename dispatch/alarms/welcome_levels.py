"""The part of a site's policy an agent needs before it sends (the welcome), kept for seconds."""

from __future__ import annotations

import time

from dispatch.routing.policy import policies_for_site
from dispatch.store.database import Database
from shared.protocol import LevelSettings

LEVEL_SETTINGS_TTL_S = 10.0
"""How long a site's countdown and cancel window are reused for welcomes."""


class WelcomeLevels:
    """Each site's countdown and cancel window per level, read once per TTL.

    After a hub restart thousands of agents say hello at once, and each would
    otherwise read the same policy rows again.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cached: dict[int, tuple[float, list[LevelSettings]]] = {}

    async def of_site(self, site_id: int) -> list[LevelSettings]:
        now = time.monotonic()
        cached = self._cached.get(site_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._db.read() as session:
            policies = await policies_for_site(session, site_id)
        settings = [
            LevelSettings(level=level, countdown_s=p.countdown_s, cancel_window_s=p.cancel_window_s)
            for level, p in policies.items()
        ]
        self._cached[site_id] = (now + LEVEL_SETTINGS_TTL_S, settings)
        return settings

    def forget(self, site_id: int) -> None:
        """A policy changed here; other hub instances follow within the TTL."""
        self._cached.pop(site_id, None)
