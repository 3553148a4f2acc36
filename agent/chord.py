"""Key chords ("ctrl+alt+p", shown "Strg+Alt+P") and a matcher that fires once per press.

Privacy guarantee: the matcher's whole state is the set of modifiers held right
now and which of its chords' own keys are down. It never stores, counts or
returns any other key; a key that is not part of a chord leaves no trace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MODIFIERS: frozenset[str] = frozenset({"ctrl", "alt", "shift", "super"})
MODIFIER_ALIASES: dict[str, str] = {
    "control": "ctrl",
    "strg": "ctrl",
    "option": "alt",
    "cmd": "super",
    "win": "super",
    "meta": "super",
}
# Keys a chord may end on besides a single letter or digit (pynput's Key names).
NAMED_KEYS: frozenset[str] = frozenset(
    {"space", "pause", "scroll_lock", "insert", "home", "end", "page_up", "page_down"}
    | {f"f{n}" for n in range(1, 25)}
)
# Keys nobody presses while typing, so they may stand alone.
BARE_KEYS: frozenset[str] = frozenset({"pause", "scroll_lock"} | {f"f{n}" for n in range(1, 25)})
_MODIFIER_ORDER = ("ctrl", "alt", "shift", "super")
_FUNCTION_KEY = re.compile(r"f([1-9]|1[0-2])")
# F13…F24 (foot switches, USB panic buttons) reach the agent only on Windows
# (RegisterHotKey knows VK_F13…VK_F24). On X11 pynput has no F21…F24 at all, and
# F13…F20 arrive only if the keyboard map names them so, which the usual
# evdev map does not (XF86Tools, XF86Launch5, …): accepted there, they would be dead.
EXTENDED_FUNCTION_KEYS: frozenset[str] = frozenset(f"f{n}" for n in range(13, 25))


class ChordError(ValueError):
    """A hotkey text that cannot be used as a chord."""


@dataclass(frozen=True)
class Chord:
    """Modifiers that must be held plus the one key that fires the chord."""

    modifiers: frozenset[str]
    key: str

    def __str__(self) -> str:
        return format_chord(self)


def parse_chord(text: str) -> Chord:
    """Parse "ctrl+alt+p" (any case, any modifier order) into a Chord."""
    parts = [part.strip().lower() for part in text.split("+")]
    if not text.strip() or any(not part for part in parts):
        raise ChordError(f"hotkey {text!r} is not of the form 'ctrl+alt+p'")
    *mods, key = parts
    modifiers: set[str] = set()
    for mod in mods:
        name = MODIFIER_ALIASES.get(mod, mod)
        if name not in MODIFIERS:
            raise ChordError(
                f"hotkey {text!r}: {mod!r} is not a modifier (ctrl, alt, shift, super)"
            )
        modifiers.add(name)
    key = MODIFIER_ALIASES.get(key, key)
    if key in MODIFIERS:
        raise ChordError(f"hotkey {text!r} must end on a key that is not a modifier")
    if not (len(key) == 1 and key.isascii() and key.isalnum()) and key not in NAMED_KEYS:
        raise ChordError(f"hotkey {text!r}: unknown key {key!r}")
    if not modifiers and key not in BARE_KEYS:
        # A bare letter would fire while the employee types.
        raise ChordError(f"hotkey {text!r} needs at least one modifier")
    if {"ctrl", "alt"} <= modifiers and _FUNCTION_KEY.fullmatch(key):
        raise ChordError(
            f"hotkey {text!r}: Ctrl+Alt+F1…F12 switch the Linux console and never reach the agent"
        )
    return Chord(frozenset(modifiers), key)


def check_platform(chord: Chord, platform: str) -> None:
    """Refuse a chord this platform's hotkey backend can never see (sys.platform values)."""
    if chord.key in EXTENDED_FUNCTION_KEYS and platform != "win32":
        raise ChordError(
            f"hotkey {format_chord(chord)!r}: {chord.key.upper()} cannot be received on "
            "Linux/X11 (F13…F24 work only on Windows); use e.g. 'pause', 'scroll_lock' "
            "or 'ctrl+alt+p'"
        )


def format_chord(chord: Chord) -> str:
    """The canonical text of a chord, modifiers in a fixed order: "ctrl+alt+p"."""
    ordered = [mod for mod in _MODIFIER_ORDER if mod in chord.modifiers]
    return "+".join([*ordered, chord.key])


# How people read keys: "Strg+Alt+P" on German keyboards, "Ctrl+Alt+P" on English ones.
_KEY_LABELS: dict[str, dict[str, str]] = {
    "de": {
        "ctrl": "Strg",
        "alt": "Alt",
        "shift": "Umschalt",
        "super": "Windows",
        "space": "Leertaste",
        "pause": "Pause",
        "scroll_lock": "Rollen",
        "insert": "Einfg",
        "home": "Pos1",
        "end": "Ende",
        "page_up": "Bild auf",
        "page_down": "Bild ab",
    },
    "en": {
        "ctrl": "Ctrl",
        "alt": "Alt",
        "shift": "Shift",
        "super": "Windows",
        "space": "Space",
        "pause": "Pause",
        "scroll_lock": "Scroll Lock",
        "insert": "Insert",
        "home": "Home",
        "end": "End",
        "page_up": "Page Up",
        "page_down": "Page Down",
    },
}


def display_chord(chord: Chord | str, language: str = "de") -> str:
    """A chord as the UI shows it: "Strg+Alt+P" (German) or "Ctrl+Alt+P" (English).

    The config keeps the canonical "ctrl+alt+p"; only what people read is translated.
    A text that is not a chord is shown as it is (the config check reports it).
    """
    if isinstance(chord, str):
        try:
            return display_chord(parse_chord(chord), language)
        except ChordError:
            return chord
    labels = _KEY_LABELS.get(language, _KEY_LABELS["de"])
    ordered = [mod for mod in _MODIFIER_ORDER if mod in chord.modifiers]
    return "+".join(labels.get(key, key.upper()) for key in [*ordered, chord.key])


class ChordMatcher:
    """Fed normalized key names; ``key_down`` returns the chord that fired, once per press.

    A chord fires when all its modifiers are held (extra modifiers are tolerated,
    so a modifier whose release was missed cannot block the alarm). When two
    chords share a key ("ctrl+alt+p" and "ctrl+alt+shift+p") the one with the
    most modifiers held wins. Auto-repeat of the held key does not fire again;
    releasing and pressing the key does.

    The whole memory is ``chords`` (fixed), the modifiers held right now and
    which chord keys are down; any other key is compared and forgotten.
    """

    __slots__ = ("_down", "_held", "chords")

    def __init__(self, *chords: Chord) -> None:
        if not chords:
            raise ValueError("at least one chord is needed")
        self.chords: tuple[Chord, ...] = chords
        self._held: set[str] = set()
        self._down: set[str] = set()  # only ever keys that end one of the chords

    def key_down(self, key: str | None) -> Chord | None:
        if key in MODIFIERS:
            self._held.add(key)
            return None
        candidates = [c for c in self.chords if c.key == key]
        if not candidates:
            return None  # not ours: forget it at once
        assert key is not None
        if key in self._down:
            return None  # auto-repeat
        matching = [c for c in candidates if c.modifiers <= self._held]
        if not matching:
            return None
        self._down.add(key)
        return max(matching, key=lambda c: len(c.modifiers))

    def key_up(self, key: str | None) -> None:
        if key in MODIFIERS:
            self._held.discard(key)
        elif key is not None:
            self._down.discard(key)

    def reset(self) -> None:
        """Forget held modifiers, e.g. after the listener restarted."""
        self._held.clear()
        self._down.clear()

    def memory(self) -> tuple[frozenset[str], frozenset[str]]:
        """Everything the matcher remembers besides its chords (for tests and audits)."""
        return frozenset(self._held), frozenset(self._down)

    @property
    def held_modifiers(self) -> frozenset[str]:
        return frozenset(self._held)
