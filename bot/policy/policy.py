"""Per-user, per-channel moderation policy: when to flag a message, when to report a user.

* A message is **flagged** when its score reaches the flag threshold (the scorer's own,
  followed across hot reloads, unless ``flag_threshold`` sets one; never below the
  sensitivity preset's ``flag_floor``) and, at the
  ``medium`` and ``low`` sensitivities, when it is also aimed at someone
  (:func:`bot.policy.targeting.is_directed`: a second person, an @mention, a vocative, an
  imperative like ``stfu`` / ``꺼져``) or its category is severe on its own (a slur, a
  threat, self-harm encouragement: :mod:`bot.policy.abuse`), never because of a high score.
  Chat's everyday swearing (``holy shit``, ``ㅅㅂ ㅋㅋㅋ``) is then not flagged. The abusive
  phrases the policy reads itself (``kys``, ``i will kill you``, ``빙시야``) are flagged
  whatever the score.
* A user is **reported** at once when one flagged message is clearly severe: its category
  is one moderators act on at the first message (``at_once``: slurs, threats, self-harm
  encouragement, sexual harassment), read by the policy itself or given by the scorer with
  a score of at least ``report_threshold``. A message with no category is not severe.
  Milder messages (profanity, insults) report after repeats:
  ``report_after_flags`` flags within ``window`` seconds, or ``same_target_flags`` flags
  aimed at the same person (:func:`bot.policy.context.addressee`) within the window —
  repeated harassment of one person.
* Two chat filters are per-channel switches, off by default: ``spam`` flags a repeated line
  or a flood (:mod:`bot.policy.context`), ``links`` flags links; their flags carry the
  ``spam`` / ``link`` category and report after repeats like other mild flags.
* After a report the user is in **cool-down** for ``window`` seconds: further flags are
  stored and join the user's next report instead of producing a new one.
* Broadcaster and moderators are exempt by default; VIPs and subscribers optionally.

Time is the message's own send time, so a replayed log decides exactly as live chat did.
The policy is pure and synchronous; it holds only small, bounded per-user state (at most
``MAX_USERS`` users; idle ones are dropped by :meth:`Policy.forget_idle`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from bot.policy.abuse import (
    AT_ONCE,
    SEVERE_ALONE,
    SEXUAL,
    SLUR,
    phrase_categories,
    sexual_remark,
)
from bot.policy.context import LINK, SPAM, Recent, addressee, has_link, is_flood
from bot.policy.sensitivity import SENSITIVITIES
from bot.policy.targeting import is_directed
from bot.policy.terms import BLOCKED, ChannelTerms
from bot.policy.version import POLICY_VERSION, config_digest
from bot.twitch.events import ChatMessage, ClearChat, ClearMsg
from model.scorer import Score

__all__ = [
    "AT_ONCE",
    "MAX_USERS",
    "Decision",
    "NormFlag",
    "Norms",
    "Policy",
    "PolicyConfig",
    "with_sensitivity",
]

#: The scorer's categories that learned norms never quiet in a channel.
SEVERE = frozenset({"slur", "hate", "threat", "sexual", "self-harm", BLOCKED})
#: Users (over all channels) the policy keeps state for at most; the longest-known go first.
MAX_USERS = 200_000


@dataclass(frozen=True, slots=True)
class NormFlag:
    """A learned channel norm's reason to put a message before moderators."""

    #: the norm's category, in the moderators' terms (``repetition``, ``other broadcaster``,
    #: ``language``, ``advertising``, ``begging``, ``learned term``…)
    category: str
    #: how sure the learner is, 0..1
    score: float
    #: what matched (learned terms), shown as evidence
    evidence: tuple[str, ...] = ()
    #: why, e.g. "like 7 messages your moderators removed since Tuesday"
    note: str | None = None
    #: the learner is sure enough that its moderators act on such a message at once
    report: bool = False


class Norms(Protocol):
    """What every channel's moderators taught, as the policy asks it (:mod:`bot.norms`)."""

    def judge(self, message: ChatMessage) -> NormFlag | None:
        """Whether ``message`` breaks a learned norm of its channel (it changes nothing)."""
        ...

    def quiets(self, message: ChatMessage, labels: Sequence[str]) -> bool:
        """Whether the scorer's flag of ``message`` (categories ``labels``) is one its
        channel's moderators leave alone; never true for a slur, threat or sexual
        harassment."""
        ...

    def seen(self, message: ChatMessage, mild_flag: bool) -> None:
        """``message`` was decided on: it joins the channel's chat. ``mild_flag``: the
        scorer flagged it, and not for a slur, threat or sexual harassment."""
        ...

    def moderated(self, action: ClearChat | ClearMsg) -> None:
        """A moderator acted: learn from it."""
        ...

    def version(self, channel: str) -> str:
        """How much ``channel``'s moderators had taught, as stored on flags."""
        ...


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    #: None: the threshold of the scorer that scored the message (:meth:`Policy.follow`)
    flag_threshold: float | None = None
    #: the sensitivity preset's lowest flag threshold (``low``: 0.8)
    flag_floor: float = 0.0
    report_threshold: float = 0.9
    report_after_flags: int = 3
    window: float = 600.0
    exempt_moderators: bool = True
    exempt_vips: bool = False
    exempt_subscribers: bool = False
    require_target: bool = False
    at_once: frozenset[str] = AT_ONCE
    same_target_flags: int = 2
    #: report a slur at once even when it is aimed at nobody (the channel's ``slurs``
    #: filter); else such a use is flagged, and reported when aimed at someone
    every_slur: bool = False
    spam: bool = False
    links: bool = False


def with_sensitivity(config: PolicyConfig, name: str) -> PolicyConfig:
    require_target, floor = SENSITIVITIES[name]
    return replace(config, require_target=require_target, flag_floor=floor)


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policy made of one scored message."""

    flagged: bool
    report_reason: str | None = None  # set when this message triggers a report
    exempt: bool = False
    #: categories the policy itself found (``spam``, ``link``, a learned norm's), beside
    #: the scorer's
    labels: tuple[str, ...] = ()
    #: a learned norm's score, when one flagged the message (0.0 otherwise)
    score: float = 0.0
    #: what a learned norm matched (terms), beside the scorer's evidence
    evidence: tuple[str, ...] = ()
    #: why a learned norm flagged it, in the moderators' terms
    note: str | None = None


@dataclass(slots=True)
class _UserState:
    flags: deque[float] = field(default_factory=deque)
    last_report: float | None = None
    last_seen: float = 0.0
    recent: Recent = field(default_factory=Recent)


class Policy:
    """Stateful policy; one instance per bot process."""

    def __init__(
        self,
        config: PolicyConfig,
        channels: dict[str, PolicyConfig] | None = None,
        *,
        scorer_threshold: float = 0.5,
    ) -> None:
        self.config = config
        self.channels = channels or {}
        #: per-channel allowed and blocked terms (see :mod:`bot.policy.terms`)
        self.terms: dict[str, ChannelTerms] = {}
        #: the flag threshold of the scorer whose scores are being decided
        self.scorer_threshold = scorer_threshold
        self._users: dict[tuple[str, str], _UserState] = {}
        self._versions: dict[str, str] = {}
        #: what each channel's moderators taught (None: nothing is learned)
        self.norms: Norms | None = None

    def set_channel(self, channel: str, config: PolicyConfig, terms: ChannelTerms) -> None:
        """Replace one channel's config and terms, live: the next message decides by them."""
        self.channels[channel] = config
        self.terms[channel] = terms
        self._versions.pop(channel, None)

    def follow(self, scorer_threshold: float) -> None:
        """Decide from now on with the threshold of the scorer that scores (a hot reload may
        bring a model with another one); a configured ``flag_threshold`` still wins."""
        self.scorer_threshold = scorer_threshold

    def threshold(self, channel: str) -> float:
        """The flag threshold in ``channel`` now."""
        c = self.config_for(channel)
        own = self.scorer_threshold if c.flag_threshold is None else c.flag_threshold
        return max(own, c.flag_floor)

    def version(self, channel: str) -> str:
        """The revision of what decides in ``channel``, stored on each of its flags: the
        policy's code (:data:`~bot.policy.version.POLICY_VERSION`), a digest of the
        channel's configuration and terms, and, with learned norms, how much the channel's
        moderators had taught when it decided."""
        found = self._versions.get(channel)
        if found is None:
            setup = (self.config_for(channel), self.terms.get(channel, ChannelTerms()))
            found = self._versions[channel] = f"{POLICY_VERSION}.{config_digest(setup)}"
        if self.norms is not None:
            return f"{found}.{self.norms.version(channel)}"
        return found

    def moderated(self, action: ClearChat | ClearMsg) -> None:
        """A moderator's action on chat (a timeout, ban or clear; a deleted message), in
        its place among the messages: what the channel's learned norms learn from."""
        if self.norms is not None:
            self.norms.moderated(action)

    def after_scoring(self, message: ChatMessage, score: Score) -> Score:
        """``score`` of ``message`` after its channel's allowed/blocked terms."""
        terms = self.terms.get(message.channel)
        return terms.rescore(message.text, score) if terms else score

    def config_for(self, channel: str) -> PolicyConfig:
        return self.channels.get(channel, self.config)

    def is_exempt(self, message: ChatMessage) -> bool:
        c = self.config_for(message.channel)
        return (
            (c.exempt_moderators and (message.is_broadcaster or message.is_moderator))
            or (c.exempt_vips and message.is_vip)
            or (c.exempt_subscribers and message.is_subscriber)
        )

    def flags(
        self,
        message: ChatMessage,
        score: float,
        evidence: Sequence[str] = (),
        *,
        labels: Sequence[str] = (),
        scorer_threshold: float | None = None,
    ) -> bool:
        """Would ``message`` be flagged at ``score`` (ignoring exemptions)? ``evidence``: what
        made it score (terms or words), to check that the addressee is near it; ``labels``:
        the scorer's categories (a slur is flagged with no addressee);
        ``scorer_threshold``: that of the scorer that scored it, when not the followed one."""
        return self._flag(message, score, evidence, labels, scorer_threshold) is not None

    def _flag(
        self,
        message: ChatMessage,
        score: float,
        evidence: Sequence[str],
        labels: Sequence[str],
        scorer_threshold: float | None = None,
    ) -> tuple[str, ...] | None:
        """None when ``message`` is not flagged; else the categories the policy read in it
        itself (:mod:`bot.policy.abuse`), beside the scorer's ``labels``."""
        read = phrase_categories(message.text)
        if read:
            return read  # unambiguous abuse, whatever the scorer made of it
        c = self.config_for(message.channel)
        own = c.flag_threshold
        if own is None:
            own = self.scorer_threshold if scorer_threshold is None else scorer_threshold
        if score < max(own, c.flag_floor):
            return None
        aimed: bool | None = None
        if c.require_target and SEVERE_ALONE.isdisjoint(labels):
            aimed = is_directed(message.text, evidence)
            if not aimed:
                return None
        if sexual_remark(message.text) and (aimed or is_directed(message.text, evidence)):
            return (SEXUAL,)  # sexual harassment: a sexual remark aimed at someone
        return ()

    def decide(
        self,
        message: ChatMessage,
        score: float,
        evidence: Sequence[str] = (),
        labels: Sequence[str] = (),
    ) -> Decision:
        """Flag and report ``message`` (scored ``score``, categories ``labels``) or not.

        With learned norms, the message is judged by what its channel's moderators taught
        before it arrived, then remembered as part of the channel's chat."""
        norms = self.norms
        read = self._flag(message, score, evidence, labels)
        if norms is None:
            return self._decide(message, score, evidence, labels, read, None)
        norm = norms.judge(message)
        mild = (
            read is not None
            and bool(labels)
            and SEVERE.isdisjoint(labels)
            and SEVERE.isdisjoint(read)
        )
        # a mild flag the channel's moderators leave alone is not one (a slur, threat or
        # sexual remark the policy read itself is never mild)
        if mild and norms.quiets(message, labels):
            read = None
        decision = self._decide(message, score, evidence, labels, read, norm)
        norms.seen(message, mild)
        return decision

    def _decide(
        self,
        message: ChatMessage,
        score: float,
        evidence: Sequence[str],
        labels: Sequence[str],
        read: tuple[str, ...] | None,
        norm: NormFlag | None,
    ) -> Decision:
        """``read``: what :meth:`_flag` made of the message (None: not flagged by its
        score); ``norm``: the learned norm it breaks, if any."""
        c = self.config_for(message.channel)
        found = self._filters(message, c)
        by_score = read is not None
        if read:
            found += tuple(x for x in read if x not in labels)  # beside the scorer's
        if not by_score and not found and norm is None:
            return Decision(flagged=False)
        if self.is_exempt(message):
            return Decision(flagged=False, exempt=True)
        if norm is not None:
            found += (norm.category,)

        def flagged(reason: str | None = None) -> Decision:
            if norm is None:
                return Decision(flagged=True, report_reason=reason, labels=found)
            return Decision(
                flagged=True,
                report_reason=reason,
                labels=found,
                score=norm.score,
                evidence=norm.evidence,
                note=norm.note,
            )

        now = message.sent_at
        state = self._state(message)
        flags = state.flags
        flags.append(now)
        while flags and flags[0] <= now - c.window:
            flags.popleft()
        aimed = state.recent.aimed(now, addressee(message), c.window) if by_score else 0
        if state.last_report is not None and now - state.last_report < c.window:
            return flagged()  # cool-down: joins the next report
        reason: str | None = None
        # severe by category: read by the policy, or the scorer's at the report threshold; a
        # sexual remark, the policy's or the scorer's, when it names whom it speaks to (a
        # scorer's `sexual` on `old ass nigga`, aimed at nobody, is no harassment)
        named = addressee(message) is not None
        severe = [x for x in read or () if x in c.at_once and (x != SEXUAL or named)]
        if score >= c.report_threshold:
            severe += [
                x for x in labels if x in c.at_once and x not in severe and (x != SEXUAL or named)
            ]
            # a slur of the scorer's that the policy's own list does not hold (words chat
            # mostly uses in friendly ways) reports when aimed at someone, or where the
            # channel asks for every slur; aimed at nobody it is on the dashboard only
            friendly = SLUR not in (read or ()) and not c.every_slur
            if SLUR in severe and friendly and not (named or is_directed(message.text, evidence)):
                severe.remove(SLUR)
        if by_score and severe:
            reason = f"{', '.join(severe)}: reported at the first message"
        elif norm is not None and norm.report:
            reason = f"{norm.category}: {norm.note}" if norm.note else norm.category
        elif aimed >= c.same_target_flags:
            minutes = c.window / 60
            reason = f"{aimed} flagged messages aimed at the same person within {minutes:g} min"
        elif len(flags) >= c.report_after_flags:
            minutes = c.window / 60
            reason = f"{len(flags)} flagged messages within {minutes:g} min"
        if reason is not None:
            state.last_report = now
        return flagged(reason)

    def _filters(self, message: ChatMessage, c: PolicyConfig) -> tuple[str, ...]:
        """The channel's chat filters that ``message`` trips (``spam``, ``link``)."""
        if not (c.spam or c.links) or self.is_exempt(message):
            return ()
        found: tuple[str, ...] = ()
        if c.spam:
            state = self._state(message)
            if state.recent.repeated(message) or is_flood(message.text):
                found += (SPAM,)
        if c.links and has_link(message.text):
            found += (LINK,)
        return found

    def _state(self, message: ChatMessage) -> _UserState:
        key = (message.channel, message.user_key)
        state = self._users.get(key)
        if state is None:
            if len(self._users) >= MAX_USERS:
                del self._users[next(iter(self._users))]
            state = self._users[key] = _UserState()
        state.last_seen = max(state.last_seen, message.sent_at)
        return state

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

    def forget_channels(self, channels: Collection[str]) -> int:
        """Drop every user's state in ``channels`` (before :meth:`restore` of a channel
        another worker read until now); returns how many were dropped."""
        gone = [key for key in self._users if key[0] in channels]
        for key in gone:
            del self._users[key]
        return len(gone)

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
