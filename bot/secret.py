"""A secret string whose ``repr`` and ``str`` are masked.

Its own module because settings, the Twitch client and the Discord sender all hold secrets
(the Twitch token, the webhook URL with its embedded token): the Twitch client must not
import the settings, which bring the policy with them, only to type a token.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Secret"]


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret string; only :meth:`reveal` gives the value."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__
