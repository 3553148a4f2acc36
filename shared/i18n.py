"""One translation mechanism for the agent and the console: German first, English on request.

Each side keeps its own catalogue (the agent ships without the console's texts),
but both are a :class:`Catalogue`: language → message id → text with
``{placeholders}``, checked when it is built so that every language has exactly
the ids of the default language. A missing translation fails at import, never
on a guard's screen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, cast

Language = Literal["de", "en"]
DEFAULT_LANGUAGE: Final[Language] = "de"
LANGUAGES: Final[tuple[Language, ...]] = ("de", "en")


class CatalogueError(ValueError):
    """A catalogue whose languages do not have the same message ids."""


class Catalogue:
    def __init__(self, messages: Mapping[str, dict[str, str]]) -> None:
        if set(messages) != set(LANGUAGES):
            raise CatalogueError(f"catalogue languages {sorted(messages)} != {list(LANGUAGES)}")
        wanted = set(messages[DEFAULT_LANGUAGE])
        for lang, texts in messages.items():
            if set(texts) != wanted:
                missing = sorted(wanted - set(texts))
                extra = sorted(set(texts) - wanted)
                raise CatalogueError(
                    f"{lang}: missing {missing}, not in {DEFAULT_LANGUAGE}: {extra}"
                )
        self._messages = dict(messages)  # the catalogues themselves, not copies

    @classmethod
    def from_entries(cls, entries: Mapping[str, Mapping[Language, str]]) -> Catalogue:
        """Built from message id → language → text (the agent writes its texts that way)."""
        return cls(
            {lang: {key: texts[lang] for key, texts in entries.items()} for lang in LANGUAGES}
        )

    def language(self, value: object) -> Language:
        """A supported language code for ``value``, else the default (German)."""
        if isinstance(value, str) and value in self._messages:
            return cast(Language, value)
        return DEFAULT_LANGUAGE

    def text(self, message_id: str, language: object = DEFAULT_LANGUAGE, **values: object) -> str:
        """The text in ``language`` with its placeholders filled; KeyError for an unknown id."""
        return self._messages[self.language(language)][message_id].format(**values)

    def messages(self, language: object) -> dict[str, str]:
        """Every text of one language, unformatted (for templates and the browser's JSON)."""
        return self._messages[self.language(language)]

    def ids(self) -> frozenset[str]:
        return frozenset(self._messages[DEFAULT_LANGUAGE])
