"""Per-user, per-channel moderation policy: when to flag a message, when to report a user.

* A message is **flagged** when its score reaches ``flag_threshold``.
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
from dataclasses import dataclass, field

from bot.twitch.events import ChatMessage

__all__ = ["Decision", "Policy", "PolicyConfig"]


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    flag_threshold: float = 0.5
    report_threshold: float = 0.9
    report_after_flags: int = 3
    window: float = 600.0
    exempt_moderators: bool = True
    exempt_vips: bool = False
    exempt_subscribers: bool = False


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

    def __init__(self, config: PolicyConfig) -> None:
        self.config = config
        self._users: dict[tuple[str, str], _UserState] = {}

    def is_exempt(self, message: ChatMessage) -> bool:
        c = self.config
        return (
            (c.exempt_moderators and (message.is_broadcaster or message.is_moderator))
            or (c.exempt_vips and message.is_vip)
            or (c.exempt_subscribers and message.is_subscriber)
        )

    def decide(self, message: ChatMessage, score: float) -> Decision:
        c = self.config
        if score < c.flag_threshold:
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
        horizon = now - 2 * self.config.window
        idle = [key for key, s in self._users.items() if s.last_seen < horizon]
        for key in idle:
            del self._users[key]
        return len(idle)

    def __len__(self) -> int:
        return len(self._users)
