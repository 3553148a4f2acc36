"""The one translation mechanism of agent and console: complete catalogues or none at all."""

from __future__ import annotations

import pytest

from agent import i18n as agent_i18n
from dispatch.web.console import i18n as console_i18n
from shared.i18n import Catalogue, CatalogueError


def test_a_catalogue_missing_a_translation_refuses_to_load() -> None:
    with pytest.raises(CatalogueError, match=r"en: missing \['bye'\]"):
        Catalogue({"de": {"hi": "Hallo", "bye": "Tschüss"}, "en": {"hi": "Hello"}})
    with pytest.raises(CatalogueError, match="languages"):
        Catalogue({"de": {"hi": "Hallo"}})


def test_unknown_languages_fall_back_to_german_and_placeholders_are_filled() -> None:
    catalogue = Catalogue.from_entries({"room": {"de": "Raum {n}", "en": "Room {n}"}})
    assert catalogue.text("room", "en", n="1.01") == "Room 1.01"
    assert catalogue.text("room", "fr", n="1.01") == "Raum 1.01"
    assert catalogue.language(None) == "de"


def test_agent_and_console_share_the_mechanism() -> None:
    assert isinstance(agent_i18n.CATALOGUE, Catalogue)
    assert isinstance(console_i18n.CATALOGUE, Catalogue)
    assert console_i18n.messages("en")["app_title"] != console_i18n.messages("de")["app_title"]
