"""Learned channel norms: what a channel's moderators remove is put before them next time,
in that channel only, with the reason in their terms; saved, reset, frozen; bounded."""

from __future__ import annotations

import itertools
import random
import sqlite3
from pathlib import Path

import pytest

from bot.norms import LearnedNorms, NormParams
from bot.norms.context import OFF_LANGUAGE
from bot.norms.store import NormsKeeper
from bot.policy.policy import Policy, PolicyConfig
from bot.twitch.events import ChatMessage, ClearChat, ClearMsg
from storage.database import Database

T0 = 1_700_000_000.0
_ids = itertools.count()

#: everyday chat: words of several kinds, never the learned term
WORDS = [
    *["lol", "gg", "nice", "play", "what", "was", "that", "wow", "pog", "kekw", "hello"],
    *["chat", "how", "are", "you", "doing", "today", "this", "game", "is", "fun", "love"],
    *["stream", "good", "morning", "when", "the", "next", "match"],
]


def said(channel: str, login: str, text: str, at: float) -> ChatMessage:
    return ChatMessage(f"m{next(_ids)}", channel, login, login, text, at)


def chatter(rng: random.Random, channel: str, at: float, n: int = 5) -> list[ChatMessage]:
    return [
        said(channel, f"viewer{rng.randrange(400)}", " ".join(rng.sample(WORDS, 4)), at + i)
        for i in range(n)
    ]


class Chat:
    """A channel's chat through a policy with learned norms, in time order."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.flags: list[tuple[ChatMessage, tuple[str, ...], str | None]] = []

    def say(self, message: ChatMessage, score: float = 0.0) -> bool:
        decision = self.policy.decide(message, score)
        if decision.flagged:
            self.flags.append((message, decision.labels, decision.note))
        return decision.flagged

    def timeout(self, channel: str, login: str, at: float) -> None:
        self.policy.moderated(ClearChat(channel, login, None, 600, sent_at=at))


def teach(chat: Chat, channel: str, strict: bool, line: str, rng: random.Random) -> float:
    """Ordinary chat, with four users saying ``line``; moderators of a strict channel time
    each of them out seconds later. Returns the time reached."""
    at = T0
    for user in range(4):
        for m in chatter(rng, channel, at, 150):
            chat.say(m)
        at += 150
        chat.say(said(channel, f"rule_breaker{user}", line, at))
        if strict:
            chat.timeout(channel, f"rule_breaker{user}", at + 3)
        at += 5
    for m in chatter(rng, channel, at, 200):  # the negatives' labels come 2 minutes later
        chat.say(m)
    return at + 200


def policy_with_norms(params: NormParams | None = None) -> tuple[Policy, LearnedNorms]:
    policy = Policy(PolicyConfig())
    norms = LearnedNorms(params)
    policy.norms = norms
    return policy, norms


def test_a_term_moderators_keep_removing_is_flagged_next_time_in_that_channel_only() -> None:
    policy, norms = policy_with_norms()
    chat = Chat(policy)
    rng = random.Random(1)
    at = teach(chat, "strict", True, "hyde is better", rng)
    teach(chat, "lenient", False, "hyde is better", rng)
    # learning: after three removals of three users, the fourth was flagged when it came
    assert [(m.channel, m.login) for m, _, _ in chat.flags] == [("strict", "rule_breaker3")]
    assert chat.say(said("strict", "newcomer", "hyde lol", at))
    _, labels, note = chat.flags[-1]
    assert labels == ("learned term",)
    assert note is not None and "4 messages your moderators removed" in note and "'hyde'" in note
    assert not chat.say(said("lenient", "newcomer", "hyde lol", at))
    assert not chat.say(said("strict", "regular", "gg nice play", at + 1))  # ordinary chat
    # the flag carries the learned term as evidence and its score
    decision = policy.decide(said("strict", "other", "hyde", at + 2), 0.0)
    assert decision.flagged and decision.evidence == ("hyde",) and decision.score > 0.25
    summary = norms.channel("strict").summary()
    learned = {k.key: k for k in summary.keys}
    assert summary.actions == 4 and learned["hyde"].active and learned["hyde"].users == 4
    assert not learned["is"].active  # everyday chat says "is" all the time
    assert policy.version("strict") != policy.version("lenient")


def test_repetition_moderators_act_on_is_learned_as_repetition() -> None:
    policy, _ = policy_with_norms()
    chat = Chat(policy)
    rng = random.Random(2)
    at = T0
    for user in range(4):
        for m in chatter(rng, "c", at, 30):
            chat.say(m)
        at += 30
        for i in range(3):  # the same line three times within the minute
            chat.say(said("c", f"spammer{user}", "buy my stuff now", at + i))
        chat.timeout("c", f"spammer{user}", at + 4)
        at += 10
    for m in chatter(rng, "c", at, 200):
        chat.say(m)
    at += 200
    flagged = [
        chat.say(said("c", "another", "different words each time", at + i)) for i in range(3)
    ]
    assert flagged == [False, False, True]  # the third repeat
    assert chat.flags[-1][1] == ("repetition",)


def test_a_deleted_message_is_learned_from_too() -> None:
    policy, norms = policy_with_norms(NormParams(support=2))
    chat = Chat(policy)
    rng = random.Random(3)
    at = T0
    for user in range(2):
        for m in chatter(rng, "c", at, 30):
            chat.say(m)
        at += 30
        bad = said("c", f"u{user}", "spoiler the villain dies", at)
        chat.say(bad)
        policy.moderated(ClearMsg("c", bad.login, bad.msg_id, bad.text, sent_at=at + 2))
        at += 5
    for m in chatter(rng, "c", at, 200):
        chat.say(m)
    assert chat.say(said("c", "late", "the villain dies at the end", at + 300))
    assert norms.channel("c").actions == 2


def test_off_language_lines_in_a_channel_that_removes_them() -> None:
    policy, _ = policy_with_norms()
    chat = Chat(policy)
    rng = random.Random(4)
    english = [
        "what a great play that was",
        "i think he should go left next time",
        "this is the best stream today honestly",
        "does anyone know the name of this song",
    ]
    spanish = [
        "hola a todos como estan hoy amigos",
        "que buena jugada hizo el chico",
        "alguien sabe como se llama esta cancion",
        "no entiendo nada de lo que pasa aqui",
        "buenas noches desde mexico para todos",
    ]
    at = T0
    for i in range(1600):  # enough English for the channel's language to be known
        chat.say(said("c", f"viewer{i % 300}", rng.choice(english), at + i * 0.5))
    at += 800
    for user in range(4):
        chat.say(said("c", f"hablante{user}", spanish[user], at))
        chat.timeout("c", f"hablante{user}", at + 2)
        at += 10
        for i in range(20):
            chat.say(said("c", f"viewer{i}", rng.choice(english), at + i))
        at += 20
    for i in range(300):
        chat.say(said("c", f"viewer{i % 300}", rng.choice(english), at + i * 0.5))
    at += 200
    assert chat.say(said("c", "nuevo", spanish[4], at))
    assert chat.flags[-1][1] == ("language",)
    assert not chat.say(said("c", "english", "good night from canada everyone", at + 1))
    assert OFF_LANGUAGE in {k.key for k in chat.policy.norms.channel("c").summary().keys}  # type: ignore[union-attr]


def test_learned_norms_never_stop_a_severe_flag_but_quiet_mild_ones_left_alone() -> None:
    policy, norms = policy_with_norms(NormParams(quiet_after=10))
    chat = Chat(policy)
    at = T0
    # moderators leave 30 profanity flags alone (never act on the users)
    for i in range(30):
        message = said("c", f"swearer{i}", "@bob damn that was bad", at + i)
        assert policy.decide(message, 0.9, ("damn",), ("profanity",)).flagged
    for i in range(200):
        chat.say(said("c", f"viewer{i}", "gg", at + 200 + i))
    at += 500
    assert norms.channel("c").quiets(("profanity",))
    assert not policy.decide(
        said("c", "x", "@bob damn", at), 0.9, ("damn",), ("profanity",)
    ).flagged
    # a slur is never quieted, whatever the channel's moderators did with mild flags
    assert policy.decide(said("c", "y", "@bob slur", at + 1), 0.99, ("slur",), ("hate",)).flagged
    # nor is a threat the policy reads itself, though the scorer called it profanity
    threat = policy.decide(said("c", "z", "@bob i will kill you", at + 2), 0.9, (), ("profanity",))
    assert threat.flagged and "threat" in threat.labels
    assert not norms.channel("c").quiets(("hate", "profanity"))


def test_state_survives_a_round_trip_and_reset_and_freeze_work() -> None:
    policy, norms = policy_with_norms()
    chat = Chat(policy)
    at = teach(chat, "strict", True, "hyde is better", random.Random(5))
    strict = norms.channel("strict")
    state = strict.to_state()
    again, restored = policy_with_norms()
    restored.restore("strict", state, strict.generation, strict.epoch, False)
    assert Chat(again).say(said("strict", "newcomer", "hyde lol", at))
    assert restored.version("strict") == norms.version("strict") == "norms-0.4"
    # frozen: still judges by what it knows, learns nothing more
    restored.freeze("strict", True)
    before = restored.channel("strict").summary()
    again.moderated(ClearChat("strict", "newcomer", None, 600, sent_at=at + 1))
    assert restored.channel("strict").summary().actions == before.actions
    assert restored.channel("strict").dirty
    # reset: forgets (and keeps the freeze)
    restored.reset("strict", epoch=1)
    assert not Chat(again).say(said("strict", "other", "hyde lol", at + 5))
    assert restored.version("strict") == "norms-1.0" and restored.channel("strict").frozen
    with pytest.raises(ValueError, match="unknown format"):
        restored.restore("strict", '{"format": 99}', 0, 0, False)


def test_memory_is_bounded_per_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.norms import context

    monkeypatch.setattr(context, "MAX_USERS", 50)
    policy, norms = policy_with_norms(NormParams(max_keys=40))
    chat = Chat(policy)
    rng = random.Random(6)
    at = T0
    for i in range(3000):
        login = f"user{i}"
        chat.say(said("c", login, f"word{i} {rng.choice(WORDS)}", at + i))
        if i % 10 == 0:
            chat.timeout("c", login, at + i + 1)
    c = norms.channel("c")
    assert len(c.context.users) <= 50 and len(c.context._met) <= 50
    assert len(c.evidence) <= 40
    assert len(c.to_state()) < 200_000  # the fixed-size chat counts compress well


def test_a_norm_its_moderators_enforced_on_six_users_reports_at_once() -> None:
    policy, _ = policy_with_norms()
    rng = random.Random(7)
    at = T0
    reasons: list[str | None] = []
    for user in range(9):
        for m in chatter(rng, "strict", at, 150):
            assert not policy.decide(m, 0.0).flagged
        at += 150
        decision = policy.decide(said("strict", f"rule_breaker{user}", "hyde is better", at), 0.0)
        reasons.append(decision.report_reason if decision.flagged else "not flagged")
        policy.moderated(ClearChat("strict", f"rule_breaker{user}", None, 600, sent_at=at + 3))
        at += 5
    # three removed users: flagged, not yet sure enough to report; six: reported at once
    assert reasons[:3] == ["not flagged"] * 3
    assert reasons[3:6] == [None] * 3
    assert all(r is not None and r.startswith("learned term: like") for r in reasons[6:])
    assert "'hyde'" in str(reasons[6]) and "6 users" in str(reasons[6])
    # with reports from norms turned off (report_at None) the flag comes alone
    quiet, _ = policy_with_norms(NormParams(report_at=None))
    at = T0
    for user in range(9):
        decision = quiet.decide(said("strict", f"rule_breaker{user}", "hyde is better", at), 0.0)
        quiet.moderated(ClearChat("strict", f"rule_breaker{user}", None, 600, sent_at=at + 3))
        at += 100
    assert decision.flagged and decision.report_reason is None


def test_verdicts_teach_too_mild_scorer_flags_marked_wrong_fall_quiet() -> None:
    _, norms = policy_with_norms()
    channel = norms.channel("c")
    for n in range(4):  # four of the scorer's mild flags marked wrong on the dashboard
        norms.verdict("c", f"u{n}", "that was sick", ("sick",), ("insult",), False, T0 + n)
    assert channel.quiets(("insult",))
    assert not channel.quiets(("threat",))  # severe flags are never quieted
    assert channel.generation == 4 and channel.dirty
    # a flag marked right is learned as a removal of its message, by its user
    for n in range(3):
        norms.verdict("c", f"f{n}", "hyde rules", ("hyde",), ("learned term",), True, T0 + 9)
    learned = {k.key: k for k in channel.summary().keys}
    assert learned["hyde"].users == 3
    channel.frozen = True  # a frozen channel learns nothing, verdicts included
    norms.verdict("c", "f9", "hyde rules", ("hyde",), ("learned term",), True, T0 + 10)
    assert channel.generation == 7


async def test_a_periodic_save_is_spread_over_batches_and_a_failed_one_is_kept(
    tmp_path: Path,
) -> None:
    """Each tick of a periodic save writes out about one channel (its budget), so a hundred
    busy channels never hold the pipeline back at once; what a failed write held is saved
    next time, and a channel that learns while the save goes round is saved again."""
    _, norms = policy_with_norms()
    rng = random.Random(7)
    for channel in ("alpha", "beta", "gamma"):
        for m in chatter(rng, channel, T0, 20):
            norms.seen(m, False)
        norms.moderated(ClearChat(channel, "viewer1", None, 600, sent_at=T0 + 30))
    db_path = tmp_path / "norms.db"
    async with Database.open(str(db_path), busy_timeout_ms=50) as db:
        keeper = NormsKeeper(db, norms, every=0.0, budget=0.0)
        await keeper.tick()
        assert [s.channel for s in await db.channel_norms()] == ["alpha"]
        norms.moderated(ClearChat("alpha", "viewer2", None, 600, sent_at=T0 + 40))
        await keeper.tick()
        await keeper.tick()
        assert [s.channel for s in await db.channel_norms()] == ["alpha", "beta", "gamma"]
        assert [n.channel for n in norms.dirty()] == ["alpha"]  # learned since its save
        # another writer holds the file: the write fails, and alpha stays to be saved
        blocker = sqlite3.connect(db_path)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            await keeper.tick()
        finally:
            blocker.rollback()
            blocker.close()
        assert [n.channel for n in norms.dirty()] == ["alpha"]
        await keeper.tick()
        assert norms.dirty() == []
        [alpha] = await db.channel_norms("alpha")
        assert alpha.generation == norms.channel("alpha").generation == 2
