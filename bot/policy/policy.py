"""Per-user, per-channel moderation policy: when to flag a message, when to report a user.

* A message is **flagged** when its score reaches ``flag_threshold`` and, at the
  ``medium`` and ``low`` sensitivities, when it is also aimed at someone
  (:func:`bot.policy.targeting.is_directed`: a second person, an @mention, a vocative, an
  imperative like ``stfu`` / ``꺼져``) or scores ``severe`` on its own (slurs). Chat's
  everyday swearing (``holy shit``, ``ㅅㅂ ㅋㅋㅋ``) is then not flagged.
* A user is **reported** when a flagged message reaches ``report_threshold``, or when
  ``report_after_flags`` flags fall within ``window`` seconds.
* After a report the user is in **cool-down** for ``window`` seconds: further flags are
  stored and join the user's next report instead of producing a new one.
* Broadcaster and moderators are exempt by default; VIPs and subscribers optionally.

Time is the message's own send time, so a replayed log decides exactly as live chat did.
The policy is pure and synchronous; it holds only small per-user state.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from bot.policy.sensitivity import SENSITIVITIES, Sensitivity
from bot.policy.targeting import is_directed
from bot.policy.terms import ChannelTerms
from bot.twitch.events import ChatMessage

__all__ = ["Decision", "Policy", "PolicyConfig", "with_sensitivity"]


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    flag_threshold: float = 0.5
    report_threshold: float = 0.9
    report_after_flags: int = 3
    window: float = 600.0
    exempt_moderators: bool = True
    exempt_vips: bool = False
    exempt_subscribers: bool = False
    require_target: bool = False
    severe: float = 0.95


def with_sensitivity(config: PolicyConfig, name: str) -> PolicyConfig:
    require_target, floor = SENSITIVITIES[name]
    return replace(
        config, require_target=require_target, flag_threshold=max(config.flag_threshold, floor)
    )


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policy made of one scored message."""

    flagged: bool
    report_reason: str | None = None  # set when this message triggers a report
    exempt: bool = False


@dataclass(slots=True)
class _UserState:
    flags: deque[float] = field(default_factory=deque)
    last_report: float | None = None
    last_seen: float = 0.0


class Policy:
    """Stateful policy; one instance per bot process."""

    def __init__(
        self, config: PolicyConfig, channels: dict[str, PolicyConfig] | None = None
    ) -> None:
        self.config = config
        self.channels = channels or {}
        #: per-channel allowed and blocked terms (see :mod:`bot.policy.terms`)
        self.terms: dict[str, ChannelTerms] = {}
        self._users: dict[tuple[str, str], _UserState] = {}

    def set_channel(self, channel: str, config: PolicyConfig, terms: ChannelTerms) -> None:
        """Replace one channel's config and terms, live: the next message decides by them."""
        self.channels[channel] = config
        self.terms[channel] = terms

    def after_scoring(
        self, message: ChatMessage, score: float, evidence: Sequence[str]
    ) -> tuple[float, tuple[str, ...]]:
        """``(score, evidence)`` of ``message`` after its channel's allowed/blocked terms."""
        terms = self.terms.get(message.channel)
        return terms.apply(message.text, score, evidence) if terms else (score, tuple(evidence))

    @classmethod
    def for_sensitivity(cls, config: PolicyConfig, sensitivity: Sensitivity) -> Policy:
        """``config`` at the sensitivity's default preset, with per-channel presets."""
        channels = {ch: with_sensitivity(config, name) for ch, name in sensitivity.channels}
        return cls(with_sensitivity(config, sensitivity.default), channels)

    def config_for(self, channel: str) -> PolicyConfig:
        return self.channels.get(channel, self.config)

    def is_exempt(self, message: ChatMessage) -> bool:
        c = self.config_for(message.channel)
        return (
            (c.exempt_moderators and (message.is_broadcaster or message.is_moderator))
            or (c.exempt_vips and message.is_vip)
            or (c.exempt_subscribers and message.is_subscriber)
        )

    def flags(self, message: ChatMessage, score: float, evidence: Sequence[str] = ()) -> bool:
        """Would ``message`` be flagged at ``score`` (ignoring exemptions)? ``evidence``: what
        made it score (terms or words), to check that the addressee is near it."""
        c = self.config_for(message.channel)
        if score < c.flag_threshold:
            return False
        return not c.require_target or score >= c.severe or is_directed(message.text, evidence)

    def decide(self, message: ChatMessage, score: float, evidence: Sequence[str] = ()) -> Decision:
        c = self.config_for(message.channel)
        if not self.flags(message, score, evidence):
            return Decision(flagged=False)
        if self.is_exempt(message):
            return Decision(flagged=False, exempt=True)
        now = message.sent_at
        state = self._users.setdefault((message.channel, message.user_key), _UserState())
        state.last_seen = max(state.last_seen, now)
        flags = state.flags
        flags.append(now)
        while flags and flags[0] <= now - c.window:
            flags.popleft()
        if state.last_report is not None and now - state.last_report < c.window:
            return Decision(flagged=True)  # cool-down: joins the next report
        reason: str | None = None
        if score >= c.report_threshold:
            reason = f"message scored {score:.2f} (report threshold {c.report_threshold:.2f})"
        elif len(flags) >= c.report_after_flags:
            minutes = c.window / 60
            reason = f"{len(flags)} flagged messages within {minutes:g} min"
        if reason is not None:
            state.last_report = now
        return Decision(flagged=True, report_reason=reason)

    def restore(self, flags: Sequence[tuple[str, str, float, int | None]]) -> None:
        """Resume from stored flags ``(channel, user_key, sent_at, report_id)``, oldest
        first: flag windows refill, and a user whose flags were reported stays in
        cool-down from the last reported flag, so a restart never repeats a report."""
        for channel, user_key, sent_at, report_id in flags:
            state = self._users.setdefault((channel, user_key), _UserState())
            state.flags.append(sent_at)
            state.last_seen = max(state.last_seen, sent_at)
            if report_id is not None:
                state.last_report = max(state.last_report or sent_at, sent_at)

    def forget_idle(self, now: float) -> int:
        """Drop state of users idle for two windows; returns how many were dropped."""
        window = max([self.config.window, *(c.window for c in self.channels.values())])
        horizon = now - 2 * window
        idle = [key for key, s in self._users.items() if s.last_seen < horizon]
        for key in idle:
            del self._users[key]
        return len(idle)

    def __len__(self) -> int:
        return len(self._users)
