"""Sensitivity presets (``low``, ``medium``, ``high``), chat filters (``spam``,
``links``), and their per-channel overrides.

Kept apart from the policy so that settings can parse ``CHATWARDEN_SENSITIVITY`` without
importing the targeting grammar.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FILTERS", "SENSITIVITIES", "Filters", "Sensitivity"]

#: name → (require a target, lowest flag threshold). See README.md, "Sensitivity".
SENSITIVITIES: dict[str, tuple[bool, float]] = {
    "low": (True, 0.8),  # aimed at someone and confident, or severe on its own
    "medium": (True, 0.0),  # aimed at someone, or severe on its own (the default)
    "high": (False, 0.0),  # every message the scorer calls toxic, swearing included
}


@dataclass(frozen=True, slots=True)
class Sensitivity:
    """``CHATWARDEN_SENSITIVITY``: a preset for all channels, and per-channel overrides."""

    default: str = "medium"
    channels: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, raw: str) -> Sensitivity:
        """``medium`` or ``medium,loud_channel=low,tiny_channel=high``."""
        default, overrides = "medium", []
        for part in (p.strip() for p in raw.split(",")):
            if not part:
                continue
            channel, sep, name = part.rpartition("=")
            name = name.strip().lower()
            if name not in SENSITIVITIES:
                raise ValueError(
                    f"unknown sensitivity {name!r}: expected {', '.join(SENSITIVITIES)}, "
                    "optionally per channel as channel=preset"
                )
            if sep:
                overrides.append((channel.strip().lstrip("#").lower(), name))
            else:
                default = name
        return cls(default, tuple(overrides))

    def __str__(self) -> str:
        return ",".join([self.default, *(f"{c}={n}" for c, n in self.channels)])


#: The chat filters a channel can switch on (see :mod:`bot.policy.context`); ``slurs``:
#: report every slur at once, an untargeted, friendly use too (by default such a use is
#: flagged for the dashboard and reported only when aimed at someone).
FILTERS = ("spam", "links", "slurs")


@dataclass(frozen=True, slots=True)
class Filters:
    """``CHATWARDEN_FILTERS``: chat filters on for all channels, and per-channel overrides."""

    default: frozenset[str] = frozenset()
    channels: tuple[tuple[str, frozenset[str]], ...] = ()

    @classmethod
    def parse(cls, raw: str) -> Filters:
        """``spam,links``, ``none,loud_channel=spam+links`` or ``spam,quiet=none``."""
        default: set[str] = set()
        overrides: list[tuple[str, frozenset[str]]] = []
        for part in (p.strip() for p in raw.split(",")):
            if not part:
                continue
            channel, sep, names = part.rpartition("=")
            found = cls._names(names)
            if sep:
                overrides.append((channel.strip().lstrip("#").lower(), found))
            else:
                default |= found
        return cls(frozenset(default), tuple(overrides))

    @staticmethod
    def _names(raw: str) -> frozenset[str]:
        names = {n.strip().lower() for n in raw.split("+") if n.strip()} - {"none"}
        unknown = sorted(names - set(FILTERS))
        if unknown:
            raise ValueError(
                f"unknown filter {unknown[0]!r}: expected {', '.join(FILTERS)} or none, "
                "joined by + per channel (channel=spam+links)"
            )
        return frozenset(names)

    def for_channel(self, channel: str) -> frozenset[str]:
        return dict(self.channels).get(channel, self.default)

    def __str__(self) -> str:
        parts = [",".join(sorted(self.default)) or "none"]
        parts += [f"{c}={'+'.join(sorted(n)) or 'none'}" for c, n in self.channels]
        return ",".join(parts)
