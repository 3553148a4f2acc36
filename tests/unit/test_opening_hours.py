"""Opening hours: the rule text, "open now?" in the office's time zone, and refusal of typos."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from dispatch.routing.opening_hours import OpeningHours, OpeningHoursError
from dispatch.settings import Settings

BERLIN = ZoneInfo("Europe/Berlin")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Local Berlin time in the week of Monday 2026-07-06, as an aware UTC datetime."""
    return datetime(2026, 7, 6 + day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


def test_weekday_ranges_and_single_days() -> None:
    hours = OpeningHours.parse("Mo-Fr 07:00-18:00; Sa 08:00-12:00")
    assert hours.is_open(at(0, 7))  # Monday 07:00 in Berlin is 05:00 UTC
    assert not hours.is_open(at(0, 6, 59))
    assert hours.is_open(at(4, 17, 59))
    assert not hours.is_open(at(4, 18))  # the end is exclusive
    assert hours.is_open(at(5, 9))
    assert not hours.is_open(at(5, 12))
    assert not hours.is_open(at(6, 10))  # Sunday


def test_wrapping_range_english_days_and_whole_day() -> None:
    hours = OpeningHours.parse("Sa-Mo 00:00-24:00, We 10:00-11:00")
    assert hours.is_open(at(6, 23, 59))
    assert hours.is_open(at(0, 0))
    assert not hours.is_open(at(1, 12))
    assert hours.is_open(at(2, 10, 30))


def test_empty_means_always_open() -> None:
    hours = OpeningHours.parse("")
    assert all(hours.is_open(at(day, 3)) for day in range(7))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Mo-Fr 7-18", "cannot read"),
        ("Xx 07:00-18:00", "unknown weekday"),
        ("Mo 18:00-07:00", "end must be after"),
        ("Mo 07:00-25:00", "no such time"),
    ],
)
def test_typos_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(OpeningHoursError, match=message):
        OpeningHours.parse(text)


def test_a_bad_setting_refuses_to_start() -> None:
    with pytest.raises(ValidationError, match="unknown weekday"):
        Settings(session_secret="x" * 40, opening_hours="Mo-Xy 07:00-18:00")
    with pytest.raises(ValidationError, match="unknown time zone"):
        Settings(session_secret="x" * 40, timezone="Mars/Olympus")
    settings = Settings(session_secret="x" * 40, opening_hours="Sa 08:00-12:00")
    assert settings.office_hours.is_open(at(5, 8))
