from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.pipeline import Decided, Pipeline, PipelineObserver
from bot.policy.policy import Policy, PolicyConfig
from bot.twitch.events import ChatMessage
from model.rules import RuleScorer
from model.scorer import Score
from storage.database import Database
from tests.conftest import needs_data


def chat(i: int, text: str, login: str = "viewer", channel: str = "c") -> ChatMessage:
    return ChatMessage(
        f"id-{i}", channel, login, login.title(), text, 1_700_000_000.0 + i, user_id=f"uid-{login}"
    )


async def run_pipeline(
    db: Database, scorer: object, messages: Sequence[ChatMessage], **kwargs: object
) -> Pipeline:
    with ThreadPoolExecutor(1) as executor:
        pipeline = Pipeline(
            scorer,
            db,
            Policy(PolicyConfig()),
            executor,
            max_wait=0.005,  # type: ignore[arg-type]
            **kwargs,
        )  # type: ignore[arg-type]
        runner = asyncio.create_task(pipeline.run())
        for message in messages:
            await pipeline.submit(message)
        await pipeline.close()
        await asyncio.wait_for(runner, 20)
    return pipeline


class Watcher(PipelineObserver):
    """Counts what the pipeline tells its observers."""

    def __init__(self) -> None:
        self.scored = 0
        self.writes: list[float] = []
        self.reports = 0
        self.decided_count = 0

    def batch_scored(self, size: int, seconds: float) -> None:
        self.scored += size

    def batch_written(self, seconds: float, delays: Sequence[float]) -> None:
        self.writes.append(seconds)

    def reports_created(self, count: int) -> None:
        self.reports += count

    def decided(self, decisions: Decided) -> None:
        self.decided_count += len(decisions)


async def test_every_message_is_scored_and_redeliveries_count_once(
    tmp_path: Path, rule_scorer: RuleScorer
) -> None:
    texts = ["hello", "fuck you", "gg", "you piece of shit", "nice play", "시발 진짜"]
    messages = [chat(i, t, login=f"user{i % 2}") for i, t in enumerate(texts * 50)]
    messages = [
        ChatMessage(f"id-{i}", m.channel, m.login, m.display_name, m.text, m.sent_at, m.user_id)
        for i, m in enumerate(messages)
    ]
    watcher = Watcher()
    async with Database.open(tmp_path / "cw.db") as db:
        p = await run_pipeline(db, rule_scorer, messages, observers=[watcher])
        assert p.stats.scored == 300 and p.stats.duplicates == 0
        assert await db.count("seen_messages") == 300
        assert await db.count("flagged_messages") == p.stats.flagged == 150
        assert p.stats.reports >= 1 and watcher.reports == p.stats.reports
        assert watcher.decided_count == 300 and watcher.scored == 300
        # the same messages again (a reconnect replaying history): nothing counts twice
        p2 = await run_pipeline(db, rule_scorer, messages[:100])
        assert p2.stats.duplicates == 100 and p2.stats.scored == 0
        history = await db.history("user1")
        assert history is not None and history.counts[0].messages_seen == 150


async def test_locked_database_is_retried_not_dropped(
    tmp_path: Path, rule_scorer: RuleScorer, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cw.db"
    async with Database.open(path, busy_timeout_ms=50) as db:
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock

        async def release_later() -> None:
            await asyncio.sleep(0.5)
            holder.execute("ROLLBACK")

        release = asyncio.create_task(release_later())
        watcher = Watcher()
        p = await run_pipeline(
            db, rule_scorer, [chat(i, "fuck off") for i in range(20)], observers=[watcher]
        )
        writes = watcher.writes
        await release
        holder.close()
        assert p.stats.write_retries >= 1
        # the storage time of each batch counts the wait for the lock
        assert len(writes) == p.stats.batches and max(writes) >= 0.3
        assert await db.count("flagged_messages") == 20
        assert "database write failed" in caplog.text


class FlakyScorer:
    name = "flaky"
    version = "flaky-1"
    threshold = 0.5

    def score(self, texts: Sequence[str]) -> list[Score]:
        if len(texts) > 1:
            raise RuntimeError("batch kernel crashed")
        if texts[0] == "poison":
            raise ValueError("cannot score this one")
        return [Score(0.9 if "bad" in texts[0] else 0.1, ("profanity",))]


async def test_scorer_errors_fall_back_and_lose_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    messages = [chat(0, "bad"), chat(1, "poison"), chat(2, "fine"), chat(3, "bad again")]
    async with Database.open(tmp_path / "cw.db") as db:
        p = await run_pipeline(db, FlakyScorer(), messages, max_batch=8)
        assert p.stats.scored == 4 and p.stats.score_errors == 1
        assert await db.count("seen_messages") == 4
        assert await db.count("flagged_messages") == 2
    assert "scoring a batch of" in caplog.text and "scoring one message failed" in caplog.text


async def test_maintenance_prunes_dedup_ids_and_idle_users(
    tmp_path: Path, rule_scorer: RuleScorer
) -> None:
    old = [chat(i, "fuck", login=f"old{i}") for i in range(5)]
    new = [
        ChatMessage(
            f"new-{i}", "c", "now", "Now", "hi", 1_700_000_000.0 + 10 * 86400 + i, user_id="now"
        )
        for i in range(3)
    ]
    async with Database.open(tmp_path / "cw.db") as db:
        p = await run_pipeline(db, rule_scorer, old + new, maintenance_every=0)
        assert await db.count("seen_messages") == 3  # the 10-day-old ids were pruned
        assert await db.count("flagged_messages") == 5  # flags are history: kept
        assert len(p.policy) == 0  # the old users' policy state is gone


class VersionedScorer:
    name = "versioned"
    threshold = 0.5

    def __init__(self, version: str, gate: threading.Event | None = None) -> None:
        self.version = version
        self.gate = gate
        self.calls = 0

    def score(self, texts: Sequence[str]) -> list[Score]:
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(5)
        return [Score(0.99, ("hate",)) for _ in texts]


async def test_swapping_the_scorer_between_batches_keeps_versions_honest(tmp_path: Path) -> None:
    gate = threading.Event()
    old, new = VersionedScorer("old-1", gate), VersionedScorer("new-2")
    async with Database.open(tmp_path / "cw.db") as db:
        with ThreadPoolExecutor(1) as executor:
            p = Pipeline(old, db, Policy(PolicyConfig()), executor, max_batch=4, max_wait=0.01)  # type: ignore[arg-type]
            runner = asyncio.create_task(p.run())
            for i in range(4):
                await p.submit(chat(i, "x", login=f"u{i}"))
            while old.calls == 0:  # the first batch is being scored by the old model…
                await asyncio.sleep(0.005)
            p.scorer = new  # …when the new model is swapped in
            gate.set()
            for i in range(4, 8):
                await p.submit(chat(i, "x", login=f"u{i}"))
            await p.close()
            await asyncio.wait_for(runner, 10)
        versions = {}
        for i in range(8):
            history = await db.history(f"u{i}")
            assert history is not None
            versions[i] = history.flags[0].model_version
    assert [versions[i] for i in range(8)] == ["old-1"] * 4 + ["new-2"] * 4
    assert p.stats.scored == 8 and p.stats.duplicates == 0


@needs_data
async def test_runtime_keeps_what_it_loaded_out_of_full_collections(tmp_path: Path) -> None:
    """The runtime freezes what is loaded at start (the garbage collector's full passes
    over it stalled the event loop ~0.1 s), and unfreezes it on exit."""
    import gc

    from bot.runtime import open_runtime
    from bot.settings import Settings
    from tests.conftest import DATA_DIR

    env = {
        "CHATWARDEN_DATA_DIR": str(DATA_DIR),
        "CHATWARDEN_DB": str(tmp_path / "x.db"),
        "CHATWARDEN_MODEL_URI": "rules",
    }
    assert gc.get_freeze_count() == 0
    async with open_runtime(Settings.from_env(env, None), use_discord=False) as rt:
        assert gc.get_freeze_count() > 10_000
        assert rt.scorer.version.startswith("rules-")
    assert gc.get_freeze_count() == 0


async def test_runtime_runs_a_neural_scorer_on_the_configured_torch_threads(
    tmp_path: Path,
) -> None:
    import torch

    from bot.runtime import open_runtime
    from bot.settings import Settings
    from tests.conftest import DATA_DIR

    before = torch.get_num_threads()
    env = {
        "CHATWARDEN_DATA_DIR": str(DATA_DIR),
        "CHATWARDEN_DB": str(tmp_path / "x.db"),
        "CHATWARDEN_MODEL_URI": "bundled",
        "CHATWARDEN_TORCH_THREADS": "1",
    }
    async with open_runtime(Settings.from_env(env, None), use_discord=False) as rt:
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(rt.pipeline._executor, torch.get_num_threads) == 1
    assert torch.get_num_threads() == before  # restored for whatever runs next


async def test_cancelling_a_stuck_pipeline_ends_it(tmp_path: Path, rule_scorer: RuleScorer) -> None:
    """Writes stuck on a locked database fill the queue between the stages; cancelling the
    pipeline then ends both stages at once (the scorer once waited for room for its end
    marker in a queue nobody read any more, and the cancellation hung)."""
    path = tmp_path / "cw.db"
    async with Database.open(path, busy_timeout_ms=20) as db:
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            with ThreadPoolExecutor(1) as executor:
                watcher = Watcher()
                pipeline = Pipeline(
                    rule_scorer,
                    db,
                    Policy(PolicyConfig()),
                    executor,
                    max_batch=4,
                    max_wait=0.001,
                    observers=[watcher],
                )
                runner = asyncio.create_task(pipeline.run())
                for i in range(64):
                    await pipeline.submit(chat(i, "fuck you"))
                # one batch in the write stage, two queued, the fourth waiting for room
                deadline = time.monotonic() + 10
                while watcher.scored < 16 and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                assert watcher.scored >= 16 and not watcher.writes
                await asyncio.sleep(0.1)
                runner.cancel()
                done, _ = await asyncio.wait([runner], timeout=5)
                assert done == {runner} and runner.cancelled()
        finally:
            holder.execute("ROLLBACK")
            holder.close()


async def test_the_flag_threshold_follows_a_swapped_scorer(tmp_path: Path) -> None:
    """A hot-reloaded model brings its own threshold: the batches it scores are decided by
    it (the old model's batches by the old one), unless CHATWARDEN_FLAG_THRESHOLD is set."""
    gate = threading.Event()
    old, new = VersionedScorer("old-1", gate), VersionedScorer("new-2")
    new.threshold = 0.995  # its 0.99 is below its own threshold: not toxic by its call
    async with Database.open(tmp_path / "cw.db") as db:
        with ThreadPoolExecutor(1) as executor:
            policy = Policy(PolicyConfig(), scorer_threshold=old.threshold)
            p = Pipeline(old, db, policy, executor, max_batch=4, max_wait=0.01)  # type: ignore[arg-type]
            runner = asyncio.create_task(p.run())
            for i in range(4):
                await p.submit(chat(i, "x", login=f"u{i}"))
            while old.calls == 0:
                await asyncio.sleep(0.005)
            p.scorer = new
            gate.set()
            for i in range(4, 8):
                await p.submit(chat(i, "x", login=f"u{i}"))
            await p.close()
            await asyncio.wait_for(runner, 10)
        flagged = [await db.history(f"u{i}") for i in range(8)]
    assert [h is not None and len(h.flags) > 0 for h in flagged] == [True] * 4 + [False] * 4
    assert policy.threshold("c") == 0.995
    # a configured threshold wins over any scorer's
    fixed = Policy(PolicyConfig(flag_threshold=0.4), scorer_threshold=0.995)
    assert fixed.threshold("c") == 0.4


def test_the_policy_version_names_each_channels_setup() -> None:
    from bot.policy.terms import ChannelTerms
    from bot.policy.version import POLICY_VERSION

    policy = Policy(PolicyConfig())
    before = policy.version("c")
    assert before.startswith(POLICY_VERSION + ".") and policy.version("other") == before
    policy.set_channel("c", PolicyConfig(), ChannelTerms(blocked=("badword",)))
    assert policy.version("c") != before and policy.version("other") == before
    policy.set_channel("c", PolicyConfig(), ChannelTerms())
    assert policy.version("c") == before  # the same setup, the same name
