"""The verdict cache gives exactly the scorer's own verdicts, scoring each text once."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from bot.lab.loadtest import quantile
from bot.replay import read_chat_log
from model.cache import CachedScorer
from model.rules import RuleScorer
from model.scorer import Score
from storage.database import Database
from tests.conftest import DATA_DIR, needs_data
from tests.test_pipeline import chat, run_pipeline


class Counting:
    """A real scorer with a count of the texts it was asked to score."""

    def __init__(self, inner: RuleScorer) -> None:
        self.inner = inner
        self.name, self.version, self.threshold = inner.name, inner.version, inner.threshold
        self.seen: list[str] = []

    def score(self, texts: Sequence[str]) -> list[Score]:
        self.seen += texts
        return self.inner.score(texts)


def real_chat() -> list[str]:
    log = DATA_DIR / "twitch_chat_ko_boostcamp" / "twitch" / "#yd0821.log.gz"
    return [m.text for m in read_chat_log(log)][:6000]


@needs_data
def test_cached_verdicts_equal_the_scorers_on_real_chat(rule_scorer: RuleScorer) -> None:
    texts = real_chat()
    counting = Counting(rule_scorer)
    cached = CachedScorer(counting, maxsize=100_000)
    got = [s for i in range(0, len(texts), 128) for s in cached.score(texts[i : i + 128])]
    assert got == rule_scorer.score(texts)
    assert sum(s.probability >= 0.5 for s in got) > 0  # flags are kept, not just clean ones
    # each distinct text scored once; the rest were hits
    assert sorted(counting.seen) == sorted(set(texts))
    assert cached.hits == len(texts) - len(set(texts)) > 0
    assert cached.hit_rate == cached.hits / len(texts)
    assert (cached.name, cached.version, cached.threshold) == (
        rule_scorer.name,
        rule_scorer.version,
        rule_scorer.threshold,
    )


def test_cache_is_bounded_and_forgets_the_oldest(rule_scorer: RuleScorer) -> None:
    counting = Counting(rule_scorer)
    cached = CachedScorer(counting, maxsize=3)
    cached.score(["a", "b", "c", "d"])  # "a" falls out
    counting.seen.clear()
    cached.score(["d", "c", "b", "a", "a"])
    assert counting.seen == ["a"] and len(cached._cache) == 3


def test_quantile_interpolates_within_buckets() -> None:
    buckets = [(0.01, 50.0), (0.02, 90.0), (0.05, 100.0), (float("inf"), 100.0)]
    assert abs(quantile(buckets, 0.5) - 0.01) < 1e-12
    assert abs(quantile(buckets, 0.7) - 0.015) < 1e-12
    assert abs(quantile(buckets, 0.99) - 0.047) < 1e-12
    assert quantile([], 0.5) == 0.0


async def test_pipeline_scores_repeats_once_with_the_same_decisions(
    tmp_path: Path, rule_scorer: RuleScorer
) -> None:
    texts = ["gg", "you are a nigger", "gg", "hello", "you are a nigger", "gg"] * 5
    messages = [chat(i, t, login=f"u{i % 4}") for i, t in enumerate(texts)]
    flagged = []
    for name, size in (("plain", 0), ("cached", 1000)):
        counting = Counting(rule_scorer)
        async with Database.open(tmp_path / f"{name}.db") as db:
            pipeline = await run_pipeline(db, counting, messages, score_cache=size)
        with sqlite3.connect(tmp_path / f"{name}.db") as conn:
            flagged.append(
                sorted(r[0] for r in conn.execute("SELECT msg_id FROM flagged_messages"))
            )
        assert pipeline.stats.scored == len(texts)
        assert len(counting.seen) == (len(texts) if size == 0 else len(set(texts)))
    assert flagged[0] == flagged[1] and len(flagged[0]) == 10


def test_score_command_answers_repeated_lines_from_its_memo(rule_scorer: RuleScorer) -> None:
    import io
    import json

    from bot.jsonl import score_lines

    texts = real_chat()
    lines = [json.dumps({"text": t}, ensure_ascii=False) for t in texts]
    lines[10] = "not json"  # a bad line keeps its place and is not remembered
    lines[500] = "not json"
    counting = Counting(rule_scorer)
    out = io.StringIO()
    assert score_lines(counting, 0.5, lines, out, batch_size=300, cache=100_000) == (5998, 2)
    rows = [json.loads(r) for r in out.getvalue().splitlines()]
    assert rows[10] == {"error": "line 11: Expecting value: line 1 column 1 (char 0)"}
    assert rows[500]["error"].startswith("line 501:")
    good = [i for i in range(len(texts)) if i not in (10, 500)]
    expected = rule_scorer.score([texts[i] for i in good])
    got = [rows[i] for i in good]
    assert [(r["score"], r["flagged"], r["labels"], r["why"]) for r in got] == [
        (round(s.probability, 6), s.probability >= 0.5, list(s.labels), list(s.evidence))
        for s in expected
    ]
    assert any(r["flagged"] for r in got)
    # each distinct text scored once, however often and in whichever batch it came again
    assert sorted(counting.seen) == sorted({texts[i] for i in good})
    # a memo of 2 lines: the repeats that are still remembered are not scored again
    counting.seen.clear()
    score_lines(
        counting,
        0.5,
        ['{"text": "a"}', '{"text": "b"}', '{"text": "a"}'] * 2,
        io.StringIO(),
        batch_size=1,
        cache=2,
    )
    assert counting.seen == ["a", "b"]
