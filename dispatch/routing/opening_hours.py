"""Office opening hours ("Mo-Fr 07:00-18:00; Sa 08:00-12:00"): parsed once, asked "open now?"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mo", "di", "mi", "do", "fr", "sa", "so")
ENGLISH_DAYS = ("mo", "tu", "we", "th", "fr", "sa", "su")
_RULE = re.compile(
    r"^(?P<first>[a-z]{2})(?:\s*-\s*(?P<last>[a-z]{2}))?\s+"
    r"(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$"
)


class OpeningHoursError(ValueError):
    pass


def _day(name: str) -> int:
    for names in (DAYS, ENGLISH_DAYS):
        if name in names:
            return names.index(name)
    raise OpeningHoursError(f"unknown weekday {name!r} (use Mo Di Mi Do Fr Sa So)")


def _minutes(text: str) -> int:
    hours, minutes = (int(part) for part in text.split(":"))
    if hours > 24 or minutes > 59 or (hours == 24 and minutes):
        raise OpeningHoursError(f"no such time of day: {text}")
    return hours * 60 + minutes


@dataclass(frozen=True)
class OpeningHours:
    """Per weekday (0 = Monday) the opening spans in minutes after midnight."""

    text: str
    spans: tuple[tuple[int, int, int], ...]  # (weekday, start, end)
    zone: ZoneInfo

    @classmethod
    def parse(cls, text: str, zone: str = "Europe/Berlin") -> OpeningHours:
        """Rules separated by ``;`` or ``,``; an empty text means open around the clock."""
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise OpeningHoursError(f"unknown time zone {zone!r}") from None
        if not text.strip():
            return cls(text, tuple((day, 0, 24 * 60) for day in range(7)), tz)
        spans: list[tuple[int, int, int]] = []
        for rule in re.split(r"[;,]", text.lower()):
            rule = rule.strip()
            if not rule:
                continue
            match = _RULE.match(rule)
            if match is None:
                raise OpeningHoursError(
                    f"cannot read {rule!r}: write e.g. 'Mo-Fr 07:00-18:00; Sa 08:00-12:00'"
                )
            first = _day(match["first"])
            last = _day(match["last"]) if match["last"] else first
            start, end = _minutes(match["start"]), _minutes(match["end"])
            if end <= start:
                raise OpeningHoursError(f"{rule!r}: the end must be after the start")
            day = first
            while True:
                spans.append((day, start, end))
                if day == last:
                    break
                day = (day + 1) % 7
        return cls(text, tuple(spans), tz)

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` (an aware datetime) falls into the opening hours, in their zone."""
        local = at.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        return any(
            day == local.weekday() and start <= minute < end for day, start, end in self.spans
        )
