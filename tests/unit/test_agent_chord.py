"""Chord parsing, formatting and the matcher's once-per-press and no-history guarantees."""

from __future__ import annotations

import dataclasses

import pytest

from agent.chord import (
    Chord,
    ChordError,
    ChordMatcher,
    check_platform,
    display_chord,
    format_chord,
    parse_chord,
)


def test_parse_and_format_round_trip() -> None:
    chord = parse_chord("Alt + CTRL + P")
    assert chord == Chord(frozenset({"ctrl", "alt"}), "p")
    assert format_chord(chord) == "ctrl+alt+p"
    assert str(parse_chord("shift+super+f9")) == "shift+super+f9"
    assert parse_chord("strg+alt+1") == Chord(frozenset({"ctrl", "alt"}), "1")


def test_chord_is_frozen() -> None:
    chord = parse_chord("ctrl+alt+p")
    with pytest.raises(dataclasses.FrozenInstanceError):
        chord.key = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "not of the form"),
        ("ctrl++p", "not of the form"),
        ("ctrl+alt", "not a modifier"),
        ("hyper+p", "not a modifier"),
        ("ctrl+alt+äö", "unknown key"),
        ("p", "at least one modifier"),
        ("ctrl+alt+f1", "console"),
        ("ctrl+alt+F12", "console"),
    ],
)
def test_bad_chords_are_refused(text: str, fragment: str) -> None:
    with pytest.raises(ChordError, match=fragment):
        parse_chord(text)


def test_bare_function_key_and_ctrl_alt_f13_are_allowed() -> None:
    assert parse_chord("pause").modifiers == frozenset()
    assert parse_chord("ctrl+alt+f13").key == "f13"


def test_matcher_fires_once_per_press_despite_auto_repeat() -> None:
    matcher = ChordMatcher(parse_chord("ctrl+alt+p"))
    assert not matcher.key_down("ctrl")
    assert not matcher.key_down("alt")
    assert matcher.key_down("p")
    # X11 auto-repeat: more presses of p without a release.
    assert not any(matcher.key_down("p") for _ in range(20))
    matcher.key_up("p")
    assert matcher.key_down("p")  # a second, real press fires again
    matcher.key_up("p")
    matcher.key_up("alt")
    assert not matcher.key_down("p")


def test_matcher_needs_all_modifiers_in_any_order() -> None:
    matcher = ChordMatcher(parse_chord("ctrl+alt+p"))
    assert not matcher.key_down("ctrl")
    assert not matcher.key_down("p")  # alt missing
    matcher.key_up("p")
    matcher.key_down("alt")
    assert matcher.key_down("p")


def test_matcher_tolerates_an_extra_modifier() -> None:
    # A modifier whose release was missed must not block the alarm.
    matcher = ChordMatcher(parse_chord("ctrl+alt+p"))
    for key in ("shift", "alt", "ctrl"):
        matcher.key_down(key)
    assert matcher.key_down("p")


def test_other_keys_leave_no_trace() -> None:
    matcher = ChordMatcher(parse_chord("ctrl+alt+p"), parse_chord("ctrl+alt+shift+p"))
    before = matcher.memory()
    typed = "Mein Passwort ist geheim 1234!"
    for char in typed:
        assert not matcher.key_down(char.lower())
        matcher.key_up(char.lower())
    for key in ("enter", "backspace", None, "x"):
        matcher.key_down(key)
        matcher.key_up(key)
    assert matcher.memory() == before == (frozenset(), frozenset())
    # The matcher's whole memory: its chords, held modifiers, which chord keys are down.
    assert not hasattr(matcher, "__dict__")
    assert set(ChordMatcher.__slots__) == {"chords", "_held", "_down"}
    assert matcher.held_modifiers == frozenset()


def test_a_typed_chord_key_is_kept_only_while_down() -> None:
    # "p" typed in a word is the one ordinary key the matcher compares with its
    # own; it is remembered only as "down" until released, never counted.
    matcher = ChordMatcher(parse_chord("ctrl+alt+p"))
    matcher.key_down("p")
    assert matcher.memory() == (frozenset(), frozenset())  # no modifiers held: not even that
    matcher.key_up("p")
    matcher.key_down("ctrl")
    matcher.key_down("alt")
    assert matcher.key_down("p")
    assert matcher.memory() == (frozenset({"ctrl", "alt"}), frozenset({"p"}))
    matcher.key_up("p")
    assert matcher.memory() == (frozenset({"ctrl", "alt"}), frozenset())


def test_two_chords_on_one_key_the_more_specific_wins() -> None:
    normal, danger = parse_chord("ctrl+alt+p"), parse_chord("ctrl+alt+shift+p")
    matcher = ChordMatcher(normal, danger)
    matcher.key_down("ctrl")
    matcher.key_down("alt")
    assert matcher.key_down("p") == normal
    matcher.key_up("p")
    matcher.key_down("shift")
    assert matcher.key_down("p") == danger
    assert matcher.key_down("p") is None  # auto-repeat of the danger chord
    matcher.key_up("p")
    matcher.key_up("shift")
    assert matcher.key_down("p") == normal


def test_two_chords_on_different_keys() -> None:
    first, second = parse_chord("ctrl+alt+p"), parse_chord("pause")
    matcher = ChordMatcher(first, second)
    assert matcher.key_down("pause") == second
    matcher.key_down("ctrl")
    matcher.key_down("alt")
    assert matcher.key_down("p") == first
    assert matcher.key_down("pause") is None  # still down from before
    matcher.key_up("pause")
    assert matcher.key_down("pause") == second


def test_matcher_needs_a_chord() -> None:
    with pytest.raises(ValueError, match="at least one chord"):
        ChordMatcher()


def test_held_modifiers_are_the_only_memory_and_are_released() -> None:
    matcher = ChordMatcher(parse_chord("ctrl+alt+p"))
    matcher.key_down("ctrl")
    matcher.key_down("a")  # Ctrl+A while editing
    assert matcher.held_modifiers == frozenset({"ctrl"})
    matcher.key_up("a")
    matcher.key_up("ctrl")
    assert matcher.held_modifiers == frozenset()


def test_reset_forgets_held_modifiers() -> None:
    matcher = ChordMatcher(parse_chord("ctrl+alt+p"))
    matcher.key_down("ctrl")
    matcher.key_down("alt")
    matcher.reset()
    assert not matcher.key_down("p")


@pytest.mark.parametrize("key", ["f13", "f20", "f21", "f24"])
def test_f13_to_f24_are_refused_off_windows(key: str) -> None:
    # On X11 pynput has no F21-F24, and F13-F20 arrive only with a keymap that names them.
    with pytest.raises(ChordError, match=f"{key.upper()} cannot be received on Linux/X11"):
        check_platform(parse_chord(key), "linux")
    check_platform(parse_chord(key), "win32")  # RegisterHotKey knows VK_F13…VK_F24


def test_f1_to_f12_and_letters_pass_everywhere() -> None:
    for text in ("f12", "ctrl+alt+p", "pause"):
        check_platform(parse_chord(text), "linux")


def test_display_chord_as_people_read_it() -> None:
    assert display_chord(parse_chord("alt+ctrl+p")) == "Strg+Alt+P"
    assert display_chord(parse_chord("ctrl+alt+shift+p"), "en") == "Ctrl+Alt+Shift+P"
    assert display_chord(parse_chord("scroll_lock")) == "Rollen"
    assert display_chord(parse_chord("super+f9"), "en") == "Windows+F9"
