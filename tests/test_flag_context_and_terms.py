"""What the pipeline keeps for the dashboard: the chat before each flag, and a channel's
allowed and blocked terms applied right after scoring."""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.pipeline import CONTEXT_MESSAGES, Pipeline
from bot.policy.policy import Policy, PolicyConfig
from bot.policy.terms import ChannelTerms, normalize_terms
from bot.twitch.events import ChatMessage
from model.rules import RuleScorer
from storage.database import Database


def chat(i: int, text: str, login: str, channel: str = "c") -> ChatMessage:
    return ChatMessage(f"id-{i}", channel, login, login, text, 1_700_000_000.0 + i, f"u-{login}")


async def run(
    db: Database, scorer: RuleScorer, policy: Policy, messages: list[ChatMessage]
) -> None:
    with ThreadPoolExecutor(1) as executor:
        pipeline = Pipeline(scorer, db, policy, executor, max_wait=0.005)
        runner = asyncio.create_task(pipeline.run())
        for message in messages:
            await pipeline.submit(message)
        await pipeline.close()
        await asyncio.wait_for(runner, 20)


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def test_each_flag_keeps_the_channels_last_messages_before_it(
    tmp_path: Path, rule_scorer: RuleScorer
) -> None:
    messages = [chat(i, f"ordinary message {i}", f"viewer{i}") for i in range(8)]
    messages.insert(3, chat(100, "elsewhere", "someone", channel="other"))
    messages.append(chat(200, "fuck you", "troll"))
    messages.append(chat(201, "fuck you too", "troll"))
    async with Database.open(tmp_path / "cw.db") as db:
        await run(db, rule_scorer, Policy(PolicyConfig()), messages)
        history = await db.history("troll")
        assert history is not None
        views = {v.flag.msg_id: v for v in await db.flag_views(history.flags)}
    first = [(c.login, c.text) for c in views["id-200"].context]
    assert len(first) == CONTEXT_MESSAGES == 5
    assert first == [(f"viewer{i}", f"ordinary message {i}") for i in range(3, 8)]
    second = [c.text for c in views["id-201"].context]
    assert second == [f"ordinary message {i}" for i in range(4, 8)] + ["fuck you"]
    assert rows(tmp_path / "cw.db", "SELECT count(*) FROM flag_context") == [(10,)]


async def test_blocked_terms_flag_and_allowed_terms_clear_only_their_channel(
    tmp_path: Path, rule_scorer: RuleScorer
) -> None:
    policy = Policy(PolicyConfig())
    terms = ChannelTerms(
        allowed=normalize_terms("FUCK\nFuck You"), blocked=normalize_terms("spamsite")
    )
    policy.set_channel("c", PolicyConfig(), terms)
    messages = [
        chat(1, "buy followers at SpamSite today", "bot1"),
        chat(2, "spamsites are not spamsite-free", "bot2"),  # whole words only: one hit
        chat(3, "fuck you", "rude"),
        chat(4, "fuck you", "rude2", channel="d"),
        chat(5, "nice stream", "fan"),
    ]
    async with Database.open(tmp_path / "cw.db") as db:
        await run(db, rule_scorer, policy, messages)
    flagged = rows(
        tmp_path / "cw.db", "SELECT login, score, evidence FROM flagged_messages ORDER BY login"
    )
    assert flagged == [
        ("bot1", 1.0, '["spamsite"]'),
        ("bot2", 1.0, '["spamsite"]'),
        ("rude2", flagged[2][1], flagged[2][2]),
    ]
    assert "fuck" in str(flagged[2][2]).lower()
    # a blocked term is the channel's own call: category "blocked", each user reported at once
    labelled = rows(tmp_path / "cw.db", "SELECT labels, report_id FROM flagged_messages")
    blocked = [r for r in labelled if r[0] == '["blocked"]']
    assert len(blocked) == 2 and all(report is not None for _, report in blocked)


def test_terms_unit() -> None:
    terms = ChannelTerms(allowed=("damn",), blocked=("bad word",))
    assert terms.apply("a BAD  word", 0.1, ()) == (0.1, ())  # the blocked term is two words
    assert terms.apply("a bad word!", 0.1, ()) == (1.0, ("bad word",))
    assert terms.apply("damn it", 0.7, ("damn",)) == (0.0, ())
    assert terms.apply("damn you idiot", 0.8, ("damn", "idiot")) == (0.8, ("damn", "idiot"))
    assert terms.apply("damnation", 0.6, ()) == (0.6, ())
    assert ChannelTerms().apply("x", 0.3, ["e"]) == (0.3, ("e",))
    assert normalize_terms(" A,b\n\n a ,  C  D ") == ("a", "b", "c d")
