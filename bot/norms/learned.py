"""What each channel's moderators taught the bot, learned online from their actions.

:class:`LearnedNorms` is the policy's :class:`~bot.policy.policy.Norms`: one
:class:`ChannelNorms` per channel, each learning only from its own moderators, in the
order chat saw things.

* **Deciding** (:meth:`ChannelNorms.judge`): when a message arrives, its keys
  (:mod:`bot.norms.context`) are looked up in the channel's evidence
  (:mod:`bot.norms.evidence`); a key removed from at least ``support`` distinct users whose
  hit rate reaches its family's threshold puts the message before moderators, with the
  key as evidence and a note in their terms ("like 7 messages your moderators removed
  since Tuesday"). A channel whose moderators never acted has no evidence: cold start is
  the universal behaviour. At most ``budget`` users per moderator action (plus a few) are
  flagged by learned norms in a channel, so a noisy key cannot flood the dashboard.
* **Learning**: a timeout or ban marks the user's last :data:`REMOVED_LAST` messages of
  the last :data:`REMOVED_WITHIN` seconds as removed; a deleted message is removed; every
  other message is labelled *left alone* once :data:`REMOVED_WITHIN` seconds passed
  without an action on its author (only its keys that carry evidence are updated).
* **Re-weighting the universal scorer**: mild flags of the scorer (profanity, insults —
  never a slur, threat or sexual harassment) are a key of their own; in a channel whose
  moderators leave them alone (``quiet_after`` labelled uses, hit rate under
  ``quiet_below``) they stop being flags (:meth:`ChannelNorms.quiets`).

Learned norms only put messages before moderators: they never act on Twitch.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.norms.context import (
    FIRST,
    LANGUAGE_KEYS,
    OFF_LANGUAGE,
    OFF_LANGUAGE_80,
    OFF_LANGUAGE_95,
    Arrival,
    ChannelContext,
    Said,
    word_keys,
)
from bot.norms.evidence import ChatCounts, KeyStats
from bot.norms.language import LanguageGuesser
from bot.norms.text import tokens
from bot.policy.policy import SEVERE, NormFlag
from bot.twitch.events import ChatMessage, ClearChat, ClearMsg

__all__ = [
    "CATEGORIES",
    "ChannelNorms",
    "LearnedKey",
    "LearnedNorms",
    "NormParams",
    "NormsSummary",
    "category_of",
]

#: A timeout or ban removes at most this many of the user's last messages…
REMOVED_LAST = 3
#: …sent at most this long before it; other messages are left alone after this long.
REMOVED_WITHIN = 120.0
#: The scorer's mild flag, as a key: what the channel's moderators do with them.
SCORER_MILD = "[scorer: mild]"
#: A moderator's "wrong" on a flag counts as this many uses of its keys left alone.
VERDICT_WEIGHT = 3
STATE_FORMAT = 1

#: A key's category, in the moderators' terms.
CATEGORIES = {
    "[repeat]": "repetition",
    "[repeat 5]": "repetition",
    "[flood]": "repetition",
    "[wall]": "repetition",
    "[volume]": "repetition",
    "[copypasta]": "copypasta",
    "[link]": "advertising",
    "[link: first message]": "advertising",
    "[self-promotion]": "advertising",
    "[begging]": "begging",
    "[caps]": "caps",
    "[streamer named]": "streamer named",
    OFF_LANGUAGE: "language",
    OFF_LANGUAGE_80: "language",
    OFF_LANGUAGE_95: "language",
    SCORER_MILD: "scorer",
}


def category_of(key: str) -> str:
    """``learned term`` for words, else the pattern's category."""
    return CATEGORIES.get(key, "learned term")


#: The categories of flags a learned norm makes.
NORM_CATEGORIES = frozenset({"learned term", *CATEGORIES.values()} - {"scorer"})


@dataclass(frozen=True, slots=True)
class NormParams:
    """How the learner decides and learns (measured on twitch_normvio_en:
    docs/benchmarks.md, "Learning each channel's norms")."""

    #: distinct removed users a word key needs before it flags (patterns: ``pattern_support``)
    support: int = 3
    pattern_support: int = 3
    #: hit rate a word key needs; patterns and language have their own
    words_at: float = 0.30
    patterns_at: float = 0.30
    language_at: float = 0.05
    #: every line's language is identified once this share of the channel's removed
    #: messages (from ``support`` users) were off its language
    language_share: float = 0.03
    #: uses of no evidence every hit rate is shrunk by
    beta: float = 2.0
    #: decay per labelled use (a finished wave fades)
    gamma: float = 0.98
    #: a learned norm this sure (hit rate, and users removed for it) reports at once; None:
    #: never, its flags report after repeats like other mild flags. On twitch_normvio_en
    #: (dev, rules, medium) 0.55 and 6 users report 5.3 % of actioned users before the
    #: action (0.2 % without learning) at 2.84 reports per 10k messages, 38 % of reported
    #: users actioned (2.79 and 39 % once the rules' `ass` was no longer sexual); 0.56
    #: and 7: 5.1 % at 2.73. Before the scorer's `sexual` label
    #: needed an addressee to report at once: 0.55 and 6 gave 5.3 % at 3.04, 0.56 and 7
    #: 5.1 % at 2.93, 0.6 and 5 4.0 % at 2.56
    report_at: float | None = 0.55
    report_support: int = 6
    #: norm-flagged users per moderator action, plus ``budget_base``, in a channel: a
    #: safety cap (on twitch_normvio_en it never binds at these thresholds)
    budget: float | None = 2.0
    budget_base: int = 2
    #: the scorer's mild flags stop in a channel after this many labelled uses…
    quiet_after: int = 10
    #: …when fewer than this share of them were removed
    quiet_below: float = 0.05
    #: keys with evidence kept per channel (the least removed go first)
    max_keys: int = 5000
    #: keys whose chat counts are kept per channel (lossy counting past it)
    max_counts: int = 50_000


@dataclass(frozen=True, slots=True)
class LearnedKey:
    """One key of a channel's evidence, as moderators see it."""

    key: str
    category: str
    removed: float
    uses: float
    users: int
    hit: float
    active: bool
    first: float
    last: float


@dataclass(frozen=True, slots=True)
class NormsSummary:
    """What a channel's moderators taught, as ``chatwarden norms show`` and the dashboard
    show it."""

    channel: str
    messages: int
    actions: int
    generation: int
    frozen: bool
    language: str | None
    flagged_users: int
    keys: tuple[LearnedKey, ...]


def _weekday(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%A")


class ChannelNorms:
    """One channel's learned norms (see the module's docstring)."""

    def __init__(self, channel: str, params: NormParams, language: LanguageGuesser) -> None:
        self.channel = channel
        self.params = params
        self.context = ChannelContext(channel, language)
        self.chat = ChatCounts(params.max_counts)
        self.evidence: dict[str, KeyStats] = {}
        self.messages = 0
        self.actions = 0
        #: signals learned since the last reset (stored on flags as the norms' version)
        self.generation = 0
        self.frozen = False
        self.epoch = 0
        self.dirty = False
        self._flagged: set[str] = set()
        #: messages waiting for their label: (time, author, keys with evidence, how many
        #: lines its language keys stand for)
        self._pending: deque[tuple[float, str, tuple[str, ...], int]] = deque()
        self._actioned: dict[str, float] = {}
        self._arriving: tuple[str, Arrival, list[str]] | None = None
        #: removed messages, and the users of those off the channel's language
        self.removed = 0
        self.removed_off_language = 0
        self._off_language_users: set[str] = set()

    # -- deciding ------------------------------------------------------------------

    def judge(self, message: ChatMessage) -> NormFlag | None:
        """Whether ``message`` breaks what this channel's moderators taught."""
        arrival = self.context.patterns(message.login, message.text, message.sent_at)
        keys = [*arrival.patterns, *word_keys(message.text, arrival.first, arrival)]
        self._arriving = (message.msg_id, arrival, keys)
        if not self.evidence:
            return None
        p = self.params
        best: tuple[float, str, KeyStats] | None = None
        for key in keys:
            stats = self.evidence.get(key)
            if stats is None:
                continue
            pattern = key[0] == "["
            if len(stats.users) < (p.pattern_support if pattern else p.support):
                continue
            hit = stats.hit(p.beta)
            if hit >= self._threshold(key) and (best is None or hit > best[0]):
                best = (hit, key, stats)
        if best is None:
            return None
        over_budget = (
            p.budget is not None
            and message.login not in self._flagged
            and len(self._flagged) >= p.budget * self.actions + p.budget_base
        )
        if over_budget:
            return None
        self._flagged.add(message.login)
        hit, key, stats = best
        sure = (
            p.report_at is not None and hit >= p.report_at and len(stats.users) >= p.report_support
        )
        return NormFlag(
            category_of(key), round(min(1.0, hit), 4), (key,), self._note(key, stats), sure
        )

    def _threshold(self, key: str) -> float:
        p = self.params
        if key in LANGUAGE_KEYS:
            return p.language_at
        if key == SCORER_MILD:
            return 2.0  # never flags: it only quiets (:meth:`quiets`)
        return p.patterns_at if key[0] == "[" else p.words_at

    def _note(self, key: str, stats: KeyStats) -> str:
        shown = key.removeprefix(FIRST) if key.startswith(FIRST) else key
        removed = max(1, round(stats.r))
        plural = "s" if removed != 1 else ""
        what = f"'{shown}'" if key[0] != "[" else category_of(key)
        where = " in a first message" if key.startswith(FIRST) else ""
        return (
            f"like {removed} message{plural} your moderators removed since "
            f"{_weekday(stats.first)} ({what}{where}, {len(stats.users)} users)"
        )

    def quiets(self, labels: Iterable[str]) -> bool:
        """Whether a mild flag of the scorer (``labels``) is one this channel's moderators
        leave alone; never for a slur, threat or sexual harassment."""
        labels = tuple(labels)
        if not labels or not SEVERE.isdisjoint(labels):
            return False
        stats = self.evidence.get(SCORER_MILD)
        p = self.params
        return stats is not None and stats.n >= p.quiet_after and stats.hit(0.0) < p.quiet_below

    # -- learning ------------------------------------------------------------------

    def seen(self, message: ChatMessage, mild_flag: bool) -> None:
        """``message`` was decided on: it joins the channel's chat and waits for its
        label. ``mild_flag``: the scorer flagged it, mildly (its own key)."""
        arriving = self._arriving
        if arriving is None or arriving[0] != message.msg_id:
            arrival = self.context.patterns(message.login, message.text, message.sent_at)
            keys = [*arrival.patterns, *word_keys(message.text, arrival.first, arrival)]
        else:
            _, arrival, keys = arriving
        self._arriving = None
        patterns, weight = arrival.patterns, arrival.language_weight
        if mild_flag:
            patterns = [*patterns, SCORER_MILD]
            keys = [*keys, SCORER_MILD]
        now = message.sent_at
        self.messages += 1
        self._label_left_alone(now)
        if weight > 1:  # a sampled line's language stands for that many lines
            self.chat.add([k for k in keys if k not in LANGUAGE_KEYS])
            self.chat.add([k for k in keys if k in LANGUAGE_KEYS], weight)
        else:
            self.chat.add(keys)
        self.context.remember(
            Said(
                now,
                message.msg_id,
                message.text,
                arrival.line,
                arrival.length,
                tuple(patterns),
                arrival.first,
                weight,
            ),
            message.login,
        )
        if self.frozen:
            return
        # only keys with evidence learn from being left alone (and the scorer's mild flag,
        # whose evidence starts with the first one)
        tracked = tuple(k for k in keys if k in self.evidence or k == SCORER_MILD)
        if tracked:
            self._pending.append((now, message.login, tracked, weight))
        if len(self.context.users) > 1000 and self.messages % 1000 == 0:
            self.context.forget_idle(now)

    def moderated(self, action: ClearChat | ClearMsg) -> None:
        """Learn from a moderator's action: its target's recent messages were removed."""
        if self.frozen:
            return
        now = action.sent_at or time.time()
        if isinstance(action, ClearChat):
            login = action.target_login
            if login is None:
                return  # the whole chat cleared: says nothing about any message
            lines = self.context.said(login)
            removed = [s for s in lines if now - REMOVED_WITHIN <= s.at <= now + 1.0]
            removed = removed[-REMOVED_LAST:]
        else:
            login = action.login or ""
            removed = [s for s in self.context.said(login) if s.msg_id == action.target_msg_id]
            if not removed and action.text:
                gone = Said(now, action.target_msg_id or "", action.text, "", 0, (), False, 0)
                removed = [gone]
        self.actions += 1
        self.generation += 1
        self.dirty = True
        self._actioned[login] = now
        for said in removed:
            keys = self._keys_of(said)
            self.removed += 1
            if OFF_LANGUAGE in keys:
                self.removed_off_language += 1
                if len(self._off_language_users) < 32:
                    self._off_language_users.add(login)
            self._learn(keys, True, login, now)
        p = self.params
        self.context.every_language = (
            len(self._off_language_users) >= p.support
            and self.removed_off_language >= p.language_share * self.removed
        )

    def verdict(
        self,
        login: str,
        text: str,
        evidence: Sequence[str],
        norm_flag: bool,
        correct: bool,
        at: float,
    ) -> None:
        """Learn from a moderator's verdict on a flag of ``login``'s ``text`` (its
        ``evidence``; ``norm_flag``: flagged by a learned norm, else by the scorer). Right:
        as if the moderators had removed the message. Wrong: the keys that flagged it, and
        its words with evidence, count :data:`VERDICT_WEIGHT` uses left alone."""
        if self.frozen:
            return
        patterns = [k for k in evidence if k[:1] == "["]
        if not norm_flag:
            patterns.append(SCORER_MILD)
        if correct:
            self._learn([*patterns, *word_keys(text, False)], True, login, at)
        else:
            gamma = self.params.gamma
            # its words wherever they stand: a first message's too
            if SCORER_MILD in patterns and SCORER_MILD not in self.evidence:
                self.evidence[SCORER_MILD] = KeyStats(0.0)  # its evidence starts here
            for key in {*patterns, *word_keys(text, True), *evidence}:
                stats = self.evidence.get(key)
                if stats is not None:
                    stats.left_alone(VERDICT_WEIGHT, gamma)
        self.generation += 1
        self.dirty = True

    def _keys_of(self, said: Said) -> list[str]:
        """A removed message's keys; its language is identified now if it was not then."""
        keys = [*said.patterns, *word_keys(said.text, said.first)]
        if not said.language_weight:
            keys += self.context.off_language(tokens(said.text))
        return keys

    def _label_left_alone(self, now: float) -> None:
        pending, actioned = self._pending, self._actioned
        while pending and pending[0][0] < now - REMOVED_WITHIN:
            at, login, keys, weight = pending.popleft()
            acted = actioned.get(login)
            if acted is not None and at <= acted <= at + REMOVED_WITHIN:
                continue
            self._learn(keys, False, login, at, weight)
        if len(actioned) > 10_000:
            horizon = now - 2 * REMOVED_WITHIN
            for login in [u for u, t in actioned.items() if t < horizon]:
                del actioned[login]

    def _learn(
        self, keys: Iterable[str], removed: bool, login: str, at: float, weight: int = 1
    ) -> None:
        p, evidence = self.params, self.evidence
        for key in keys:
            stats = evidence.get(key)
            if stats is None:
                if not removed and key != SCORER_MILD:
                    continue  # a key never removed carries no evidence
                seed = float(max(self.chat.get(key), 1)) if removed else 1.0
                stats = evidence[key] = KeyStats(min(seed, 1.0 / (1.0 - p.gamma)) - 1.0)
                if len(evidence) > p.max_keys:
                    self._evict()
            if weight > 1 and not removed and key in LANGUAGE_KEYS:
                stats.left_alone(weight, p.gamma)  # a sampled line stands for several
            else:
                stats.learn(removed, p.gamma, login, at)
        self.dirty = True

    def _evict(self) -> None:
        keep = sorted(self.evidence.items(), key=lambda kv: -kv[1].r)[: self.params.max_keys // 2]
        self.evidence = dict(keep)

    # -- what was learned ------------------------------------------------------------

    def summary(self) -> NormsSummary:
        p = self.params
        keys = []
        for key, stats in self.evidence.items():
            if stats.r <= 0:
                continue
            pattern = key[0] == "["
            active = len(stats.users) >= (
                p.pattern_support if pattern else p.support
            ) and stats.hit(p.beta) >= self._threshold(key)
            keys.append(
                LearnedKey(
                    key,
                    category_of(key),
                    round(stats.r, 2),
                    round(stats.n, 2),
                    len(stats.users),
                    round(stats.hit(p.beta), 4),
                    active,
                    stats.first,
                    stats.last,
                )
            )
        keys.sort(key=lambda k: (not k.active, -k.removed, k.key))
        return NormsSummary(
            self.channel,
            self.messages,
            self.actions,
            self.generation,
            self.frozen,
            self.context.language,
            len(self._flagged),
            tuple(keys),
        )

    def to_state(self) -> str:
        """What was learned, as JSON (the transient two minutes of chat are not kept)."""
        return json.dumps(
            {
                "format": STATE_FORMAT,
                "messages": self.messages,
                "actions": self.actions,
                "languages": self.context.languages,
                "every_language": self.context.every_language,
                "evidence": {k: s.to_state() for k, s in self.evidence.items()},
                "chat": self.chat.to_state(),
                "flagged": sorted(self._flagged),
                "removed": [self.removed, self.removed_off_language],
                "off_language_users": sorted(self._off_language_users),
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    def load_state(self, state: str) -> None:
        data = json.loads(state) if state.strip() else {}
        if not data:
            return
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"saved norms of #{self.channel} are in an unknown format")
        self.messages = int(data["messages"])
        self.actions = int(data["actions"])
        self.context.languages = {str(k): int(v) for k, v in data["languages"].items()}
        self.context.every_language = bool(data["every_language"])
        self.evidence = {str(k): KeyStats.from_state(v) for k, v in data["evidence"].items()}
        self.chat = ChatCounts.from_state(data["chat"], self.params.max_counts)
        self._flagged = {str(u) for u in data["flagged"]}
        self.removed, self.removed_off_language = (int(n) for n in data["removed"])
        self._off_language_users = {str(u) for u in data["off_language_users"]}


class LearnedNorms:
    """Every channel's :class:`ChannelNorms`: the :class:`~bot.policy.policy.Norms` the
    policy asks."""

    def __init__(self, params: NormParams | None = None) -> None:
        self.params = params or NormParams()
        self._language = LanguageGuesser()
        self.channels: dict[str, ChannelNorms] = {}

    def prepare(self) -> None:
        """Load what learning needs (the language identifier) before chat arrives."""
        self._language.load()

    def channel(self, name: str) -> ChannelNorms:
        found = self.channels.get(name)
        if found is None:
            found = self.channels[name] = ChannelNorms(name, self.params, self._language)
        return found

    # the policy's interface
    def judge(self, message: ChatMessage) -> NormFlag | None:
        return self.channel(message.channel).judge(message)

    def quiets(self, message: ChatMessage, labels: Iterable[str]) -> bool:
        found = self.channels.get(message.channel)
        return found is not None and found.quiets(labels)

    def seen(self, message: ChatMessage, mild_flag: bool) -> None:
        self.channel(message.channel).seen(message, mild_flag)

    def moderated(self, action: ClearChat | ClearMsg) -> None:
        self.channel(action.channel).moderated(action)

    def verdict(
        self,
        channel: str,
        login: str,
        text: str,
        evidence: Sequence[str],
        labels: Sequence[str],
        correct: bool,
        at: float,
    ) -> None:
        """A moderator's verdict on a flag in ``channel`` (see :meth:`ChannelNorms.verdict`);
        a flag whose labels are a learned norm's categories is a norm flag."""
        norm_flag = any(label in NORM_CATEGORIES for label in labels)
        self.channel(channel).verdict(login, text, evidence, norm_flag, correct, at)

    def version(self, channel: str) -> str:
        found = self.channels.get(channel)
        generation = found.generation if found is not None else 0
        epoch = found.epoch if found is not None else 0
        return f"norms-{epoch}.{generation}"

    # saving and loading (bot.norms.store)
    def restore(self, channel: str, state: str, generation: int, epoch: int, frozen: bool) -> None:
        """Take up what was saved for ``channel``."""
        norms = self.channel(channel)
        norms.load_state(state)
        norms.generation, norms.epoch, norms.frozen = generation, epoch, frozen
        norms.dirty = False

    def dirty(self) -> list[ChannelNorms]:
        """The channels that learned (or were frozen or thawed) since they were saved."""
        return [n for n in self.channels.values() if n.dirty]

    # moderators' controls
    def reset(self, channel: str, epoch: int) -> None:
        """Forget what ``channel``'s moderators taught (at the stored ``epoch``)."""
        fresh = ChannelNorms(channel, self.params, self._language)
        fresh.epoch = epoch
        old = self.channels.get(channel)
        fresh.frozen = old.frozen if old is not None else False
        self.channels[channel] = fresh

    def freeze(self, channel: str, frozen: bool) -> None:
        norms = self.channel(channel)
        norms.frozen = frozen
        norms.dirty = True
