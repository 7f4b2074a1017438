"""Which language a chat line is in, by a real language identifier (py3langid), behind the
gates short chat lines need.

Emote names, slang and one-word lines fool any identifier, so a line is identified only
when it has enough real words (emote-shaped words and numbers dropped), and counts as in a
language only with high confidence. The identifier's model (about 4 MB, half a second to
load) is loaded by :meth:`LanguageGuesser.load` when a bot starts, or on first use.
"""

from __future__ import annotations

import threading
from typing import Any

from bot.norms.text import emote_shaped

__all__ = ["LANGUAGES", "LanguageGuesser"]

#: The languages the guesser chooses among (a closed set is more reliable on short lines).
LANGUAGES = (
    "en",
    "es",
    "pt",
    "fr",
    "de",
    "it",
    "nl",
    "sv",
    "da",
    "no",
    "fi",
    "pl",
    "cs",
    "sk",
    "ru",
    "uk",
    "bg",
    "sr",
    "hr",
    "sl",
    "ro",
    "hu",
    "tr",
    "el",
    "lt",
    "lv",
    "et",
    "ar",
    "he",
    "fa",
    "hi",
    "id",
    "ms",
    "tl",
    "vi",
    "th",
    "ja",
    "ko",
    "zh",
)


class LanguageGuesser:
    """``guess(words)`` → (language, confidence) for a line with enough words, else None:
    two real words, or one of six letters or more."""

    def __init__(self) -> None:
        self._identifier: Any = None
        self._lock = threading.Lock()
        self.calls = 0

    def words(self, raw: list[str]) -> list[str]:
        """The words an identifier can read: no emote-shaped words, numbers or letters."""
        return [w for w in raw if len(w) >= 2 and not w.isdigit() and not emote_shaped(w)]

    def readable(self, raw: list[str]) -> bool:
        words = self.words(raw)
        return len(words) >= 2 or (len(words) == 1 and len(words[0]) >= 6)

    def guess(self, raw: list[str]) -> tuple[str, float] | None:
        words = self.words(raw)
        if not (len(words) >= 2 or (len(words) == 1 and len(words[0]) >= 6)):
            return None
        self.calls += 1
        language, confidence = self._model().classify(" ".join(words))
        return str(language), float(confidence)

    def load(self) -> None:
        """Load the identifier now (a bot starting up), not while chat waits for it."""
        self._model()

    def _model(self) -> Any:
        if self._identifier is None:
            with self._lock:
                if self._identifier is None:
                    from py3langid.langid import (  # type: ignore[import-untyped]
                        MODEL_FILE,
                        LanguageIdentifier,
                    )

                    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                    identifier.set_languages(LANGUAGES)
                    self._identifier = identifier
        return self._identifier
