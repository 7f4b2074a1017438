"""Moderators' actions travel with the chat, in order: read from logs as `run` receives them,
stored once, and handed to the policy in their place among the messages."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.pipeline import Pipeline
from bot.policy.policy import NormFlag, Policy, PolicyConfig
from bot.replay import read_chat_items
from bot.twitch.events import ChatItem, ChatMessage, ClearChat, ClearMsg
from model.scorer import Score
from storage.database import Database

RAW = (
    "@id=m1;tmi-sent-ts=1700000000000;user-id=1 :ann!ann@ann.tmi.twitch.tv PRIVMSG #chan :hi\n"
    "@id=m2;tmi-sent-ts=1700000001000;user-id=2 :bob!bob@bob.tmi.twitch.tv PRIVMSG #chan :buy\n"
    "@ban-duration=600;target-user-id=2;tmi-sent-ts=1700000002000 "
    ":tmi.twitch.tv CLEARCHAT #chan :bob\n"
    "@login=ann;target-msg-id=m1;tmi-sent-ts=1700000003000 :tmi.twitch.tv CLEARMSG #chan :hi\n"
    "@tmi-sent-ts=1700000004000 :tmi.twitch.tv CLEARCHAT #chan\n"
)
CHATTY = (
    "# Log started: 2021-12-10 20:57:00 +0900\n"
    "[2021-12-10 20:57:50] <viewer> hello\n"
    "[2021-12-10 20:57:55] <troll> bad words\n"
    "[2021-12-10 20:57:58] BAN: troll (5s)\n"
    "[2021-12-10 20:58:10] <gone> worse words\n"
    "[2021-12-10 20:58:11] BAN: Gone\n"
)


def test_raw_irc_and_chatty_logs_yield_actions_in_their_place(tmp_path: Path) -> None:
    raw = tmp_path / "raw.log"
    raw.write_text(RAW)
    items = list(read_chat_items(raw))
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["ChatMessage", "ChatMessage", "ClearChat", "ClearMsg", "ClearChat"]
    ban, deleted, cleared = items[2], items[3], items[4]
    assert ban == ClearChat("chan", "bob", "2", 600, sent_at=1_700_000_002.0)
    assert deleted == ClearMsg("chan", "ann", "m1", "hi", sent_at=1_700_000_003.0)
    assert isinstance(cleared, ClearChat) and cleared.target_login is None

    chatty = tmp_path / "#chan.log"
    chatty.write_text(CHATTY)
    items = list(read_chat_items(chatty))
    assert [type(i).__name__ for i in items] == [
        "ChatMessage",
        "ChatMessage",
        "ClearChat",
        "ChatMessage",
        "ClearChat",
    ]
    troll, gone = items[2], items[4]
    assert isinstance(troll, ClearChat) and isinstance(items[1], ChatMessage)
    assert (troll.target_login, troll.ban_duration) == ("troll", 5)
    assert troll.sent_at == items[1].sent_at  # dated by the message Chatty wrote it after
    assert isinstance(gone, ClearChat) and (gone.target_login, gone.ban_duration) == ("gone", None)


class _Recording:
    """Norms that only record what the policy hands them, in order."""

    def __init__(self) -> None:
        self.log: list[str] = []

    def judge(self, message: ChatMessage) -> NormFlag | None:
        if "buy" not in message.text:
            return None
        return NormFlag("learned term", 0.9, ("buy",), "like 1 message")

    def quiets(self, message: ChatMessage, labels: Sequence[str]) -> bool:
        return False

    def seen(self, message: ChatMessage, mild_flag: bool) -> None:
        self.log.append(f"{message.msg_id} {'mild' if mild_flag else '-'}")

    def moderated(self, action: ClearChat | ClearMsg) -> None:
        target = action.target_login if isinstance(action, ClearChat) else action.target_msg_id
        self.log.append(f"action {target}")

    def version(self, channel: str) -> str:
        return "norms-test"


class _Scorer:
    name, version, threshold = "zero", "zero-1", 0.5

    def score(self, texts: Sequence[str]) -> list[Score]:
        return [Score(0.0) for _ in texts]


async def _replay(db: Database, policy: Policy, items: Sequence[ChatItem]) -> Pipeline:
    with ThreadPoolExecutor(1) as executor:
        pipeline = Pipeline(_Scorer(), db, policy, executor, max_batch=2, max_wait=0.005)
        runner = asyncio.create_task(pipeline.run())
        for item in items:
            await pipeline.submit(item)
        await pipeline.close()
        await asyncio.wait_for(runner, 20)
    return pipeline


async def test_actions_reach_the_policy_in_order_and_are_stored_once(tmp_path: Path) -> None:
    raw = tmp_path / "raw.log"
    raw.write_text(RAW)
    items = list(read_chat_items(raw))
    norms = _Recording()
    policy = Policy(PolicyConfig())
    policy.norms = norms
    async with Database.open(tmp_path / "cw.db") as db:
        first = await _replay(db, policy, items)
        again = await _replay(db, policy, items)  # the same log replayed: nothing twice
    assert first.stats.actions == 3 and first.stats.received == 2
    assert again.stats.duplicates == 5
    # in chat's order: bob's "buy" is decided before his timeout is learned from
    assert norms.log == ["m1 -", "m2 -", "action bob", "action m1", "action None"]
    with sqlite3.connect(tmp_path / "cw.db") as conn:
        stored = conn.execute(
            "SELECT kind, target_login, target_msg_id, at FROM moderation_events ORDER BY id"
        ).fetchall()
        notes = conn.execute(
            "SELECT msg_id, labels, note, evidence FROM flagged_messages"
        ).fetchall()
        policy_version = conn.execute("SELECT policy_version FROM flagged_messages").fetchone()[0]
    assert stored == [
        ("timeout", "bob", None, 1_700_000_002.0),
        ("delete", "ann", "m1", 1_700_000_003.0),
        ("clear", None, None, 1_700_000_004.0),
    ]
    # the learned norm flagged "buy" when it arrived, with its category, evidence and note
    assert notes == [("m2", '["learned term"]', "like 1 message", '["buy"]')]
    assert policy_version.endswith(".norms-test")
