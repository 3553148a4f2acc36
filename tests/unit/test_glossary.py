"""Both UIs follow docs/glossary.md: no forbidden synonym, key names as "Strg+Alt+P"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.chord import display_chord
from agent.i18n import CATALOGUE as AGENT
from dispatch.channels.texts import CATALOGUE as CHANNELS
from dispatch.web.api.statistics import CSV_COLUMNS
from dispatch.web.console.i18n import MESSAGES as CONSOLE

GLOSSARY = Path(__file__).resolve().parents[2] / "docs" / "glossary.md"
LOWER_CASE_CHORD = re.compile(r"\b(ctrl|alt|shift|strg|super)\+", re.IGNORECASE)


def forbidden(column: str) -> dict[str, str]:
    """Forbidden word -> the concept's row, from the glossary table's "not" column."""
    lines = GLOSSARY.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if "glossary-table" in line)
    header = [cell.strip() for cell in lines[start + 1].strip("|").split("|")]
    index = header.index(column)
    words: dict[str, str] = {}
    for line in lines[start + 3 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        for word in cells[index].split(";"):
            if word.strip():
                words[word.strip()] = cells[0]
    return words


def texts(language: str) -> dict[str, str]:
    found = {f"agent {k}": v for k, v in AGENT.messages(language).items()}
    found.update({f"console {k}": v for k, v in CONSOLE[language].items()})
    found.update({f"statistics CSV {v}": v for v in CSV_COLUMNS[language]})
    found.update({f"channels {k}": v for k, v in CHANNELS.messages(language).items()})
    return found


def test_the_glossary_names_forbidden_words_for_both_languages() -> None:
    german, english = forbidden("not (Deutsch)"), forbidden("not (English)")
    for word in ("Einsatzbericht", "Vorfallsbericht", "Auslöser"):
        assert word in german
    assert "cancelled by the raiser" in english


@pytest.mark.parametrize(("language", "column"), [("de", "not (Deutsch)"), ("en", "not (English)")])
def test_no_text_uses_a_forbidden_synonym(language: str, column: str) -> None:
    words = forbidden(column)
    offending = [
        f"{where}: {word!r} (say the glossary's term for '{words[word]}') in {text!r}"
        for where, text in texts(language).items()
        for word in words
        if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", shown(text), re.IGNORECASE)
    ]
    assert offending == []


def shown(text: str) -> str:
    """What people read: placeholders such as {hotkey} are names in code, filled in later."""
    return PLACEHOLDER.sub("", text)


PLACEHOLDER = re.compile(r"\{\w+\}")


@pytest.mark.parametrize("language", ["de", "en"])
def test_keys_are_shown_as_people_read_them(language: str) -> None:
    offending = [
        f"{where}: {text!r}"
        for where, text in texts(language).items()
        if LOWER_CASE_CHORD.search(text) and not re.search(r"(Strg|Ctrl)\+[A-Z]", text)
    ]
    assert offending == []


def test_chords_are_displayed_in_each_language() -> None:
    assert display_chord("ctrl+alt+p", "de") == "Strg+Alt+P"
    assert display_chord("ctrl+alt+p", "en") == "Ctrl+Alt+P"
    assert display_chord("shift+ctrl+f9", "de") == "Strg+Umschalt+F9"
    assert display_chord("super+pause", "en") == "Windows+Pause"
    assert display_chord("not a chord", "de") == "not a chord"  # shown as typed, never hidden
