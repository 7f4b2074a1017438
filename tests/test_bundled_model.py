"""The model shipped in model/bundled: small, documented, the default, as good as its card."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.bundle import Bundle, load_bundle
from model.data import load_examples
from model.evaluation.evaluate import evaluate_scorer, evaluation_groups
from model.loading import BUNDLED_DIR, load_scorer
from model.neural import TorchScorer
from tests.conftest import DATA_DIR, ROOT, needs_data


def test_bundle_is_small_and_documented() -> None:
    files = {f.name: f.stat().st_size for f in BUNDLED_DIR.iterdir()}
    assert {"config.json", "tokenizer.json", "weights.pt", "metrics.json", "MODEL_CARD.md"} <= set(
        files
    )
    assert sum(files.values()) <= 10 * 1024 * 1024
    card = (BUNDLED_DIR / "MODEL_CARD.md").read_text(encoding="utf-8")
    for must in ("CC BY-SA 4.0", "Davidson", "TweetEval", "Known limits", "Intended use"):
        assert must in card


@needs_data
def test_bundled_model_loads_by_name_and_rules_stay_the_default() -> None:
    scorer = load_scorer("bundled", DATA_DIR)
    assert isinstance(scorer, TorchScorer)
    assert scorer.version == load_bundle(BUNDLED_DIR).version
    # until the model is precise on live chat (see docs/benchmarks.md), rules are the default
    assert load_scorer(None, DATA_DIR).name == "rules"


@needs_data
def test_bundled_figures_match_its_model_card() -> None:
    """The shipped fp16 weights reproduce the test figures measured at training time."""
    bundle = load_bundle(BUNDLED_DIR)
    recorded = bundle.metrics["test"]
    groups = evaluation_groups(load_examples(DATA_DIR))
    rows, _, _ = evaluate_scorer("bundled", TorchScorer(bundle), groups, timing=False)
    for row in rows:
        assert row.n == recorded[row.group]["n"]
        assert row.f1 == pytest.approx(recorded[row.group]["f1"], abs=0.01), row.group
        assert row.accuracy == pytest.approx(recorded[row.group]["accuracy"], abs=0.01)


def test_score_command_with_the_bundled_model() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATWARDEN_")}
    env.update(
        CHATWARDEN_DATA_DIR=str(DATA_DIR), PYTHONPATH=str(ROOT), CHATWARDEN_MODEL_URI="bundled"
    )
    texts = [
        "you are a worthless piece of shit",
        "what a great game, well played",
        "씨발 개새끼야 꺼져",
        "오늘 방송 정말 재밌었어요 감사합니다",
        "",
    ]
    stdin = "\n".join(json.dumps({"text": t}) for t in texts)
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "score"],
        input=stdin,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    # toxic: the model's own call; flagged: the bot's at medium (occlusion names only the
    # exclamation `shit` in the first text, so the targeting gate does not count `you`)
    assert [o["toxic"] for o in out] == [True, False, True, False, False]
    assert all(o["toxic"] == (o["score"] >= 0.5) for o in out)
    assert [o["flagged"] for o in out] == [False, False, True, False, False]
    assert out[0]["why"] and all(w in texts[0].split() for w in out[0]["why"])  # occlusion
    assert out[1]["why"] == [] == out[4]["why"]


def test_flags_of_the_network_say_which_words_drove_them() -> None:
    from model.loading import load_scorer

    scorer = load_scorer("bundled", None)
    texts = ["you are a stupid idiot lol", "씨발 꺼져 병신아"]
    insult, several = scorer.score(texts)
    assert insult.probability >= 0.5 and several.probability >= 0.5
    assert insult.evidence == () == several.evidence  # scoring alone never pays for it
    why_insult, why_several = scorer.explain(texts)  # type: ignore[attr-defined]
    assert why_insult[0] == "idiot"  # occlusion: dropping it lowers the score most
    # each word would do alone: the words that are toxic on their own
    assert set(why_several) == {"씨발", "꺼져", "병신아"}
    # an insult beside an expletive is named too, not hidden by the expletive's weight
    (why_slur,) = scorer.explain(["go back to your country you fucking chink"])  # type: ignore[attr-defined]
    assert "chink" in why_slur


async def test_pipeline_stores_why_the_network_flagged(tmp_path: Path) -> None:
    import sqlite3

    from model.loading import load_scorer
    from storage.database import Database
    from tests.test_pipeline import chat, run_pipeline

    scorer = load_scorer("bundled", None)
    messages = [chat(1, "you are a stupid idiot lol"), chat(2, "hello friends")]
    async with Database.open(tmp_path / "cw.db") as db:
        await run_pipeline(db, scorer, messages, score_cache=100)
    with sqlite3.connect(tmp_path / "cw.db") as conn:
        rows = conn.execute("SELECT msg_id, evidence FROM flagged_messages").fetchall()
    assert len(rows) == 1 and rows[0][0] == "id-1" and "idiot" in rows[0][1]


def _whole_text_ids(bundle: Bundle, texts: list[str]) -> list[list[int]]:
    from model.neural import MAX_CHARS
    from model.normalize import normalize

    norm = [normalize(t[:MAX_CHARS]) for t in texts]
    return [e.ids[: bundle.max_len] for e in bundle.tokenizer.encode_batch_fast(norm)]


@needs_data
def test_token_ids_word_by_word_are_the_tokenizers_on_real_chat() -> None:
    """The scorer normalises and tokenises word by word with a cache of words seen; the
    ids must be those of normalising and encoding each whole text (real EN and KO chat,
    evasions, long words)."""
    from bot.replay import read_chat_log

    bundle = load_bundle(BUNDLED_DIR)
    scorer = TorchScorer(bundle)
    texts = ["", " ", "a", "f.u.c.k you", "x" * 80 + " ok", "씨 발 ㅅㅂ!!", "[UNK] [PAD] [pad]"]
    texts += ["a\u00a0\u00a0b", "a\x01b \x1fc", "f\u200bu\u200bck \u200b x", "a¨b ｆｕｃｋ", "ааа"]
    for log in (
        "twitch_chat_en_madcookie/chat.log",
        "twitch_chat_ko_boostcamp/twitch/#yd0821.log.gz",
    ):
        texts += [m.text for m in read_chat_log(DATA_DIR / log)][:3000]
    whole = _whole_text_ids(bundle, texts)
    assert scorer.token_ids(texts[:2000]) == whole[:2000]  # words new to the cache
    assert scorer.token_ids(texts) == whole  # and words seen before
    assert "ok" in scorer._word_ids and "x" * 80 not in scorer._word_ids  # long: not kept
    assert sum(len(ids) == bundle.max_len for ids in whole) > 0  # some are cut


_BUNDLE: list[Bundle] = []


# letters, Hangul, jamo, spaces of several kinds, invisible and control characters, and
# characters that NFKC or casefold rewrite (to several characters, some with a space), and
# Latin look-alikes and combining marks that normalisation folds or drops
_TRICKY = list("aAbß ㅋㅅ시발 .!@\u00a0\u2003\u200b\u00ad\x01\x1c\x1f\t\n¨ｆ①аоⅣ\ud800ɴï🅽🇦\u0338")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(_TRICKY)), max_size=8))
def test_token_ids_word_by_word_equal_whole_text_ids(texts: list[str]) -> None:
    if not _BUNDLE:
        _BUNDLE.append(load_bundle(BUNDLED_DIR))
    bundle = _BUNDLE[0]
    assert TorchScorer(bundle).token_ids(texts) == _whole_text_ids(bundle, texts)


@needs_data
def test_score_lines_decide_the_same_in_forked_workers() -> None:
    """`chatwarden score` shares large batches among forked workers (one torch thread
    each): same decisions, explanations and (to float rounding) scores as in-process."""
    import io

    from bot.jsonl import score_lines
    from bot.replay import read_chat_log

    texts = []
    for log in (
        "twitch_chat_en_madcookie/chat.log",
        "twitch_chat_ko_boostcamp/twitch/#yd0821.log.gz",
    ):
        texts += [m.text for m in read_chat_log(DATA_DIR / log)][:2000]
    lines = [json.dumps({"text": t}, ensure_ascii=False) for t in texts]
    scorer = TorchScorer(load_bundle(BUNDLED_DIR))
    rows = []
    for workers in (1, 2):
        out = io.StringIO()
        score_lines(scorer, 0.5, lines, out, batch_size=2048, workers=workers)
        rows.append([json.loads(row) for row in out.getvalue().splitlines()])
    inline, forked = rows
    assert len(inline) == len(forked) == len(texts)
    assert [(r["flagged"], r["labels"], r["why"]) for r in inline] == [
        (r["flagged"], r["labels"], r["why"]) for r in forked
    ]
    assert max(abs(a["score"] - b["score"]) for a, b in zip(inline, forked, strict=True)) < 1e-5
    assert sum(r["flagged"] for r in inline) > 10


@needs_data
def test_scoring_makes_no_reference_cycles() -> None:
    """`score_lines` pauses the cyclic garbage collector: that is only safe while
    scoring and explaining leave no cycles behind for it to find."""
    import gc
    import io

    from bot.jsonl import score_lines
    from bot.replay import read_chat_log
    from model.rules import RuleScorer

    texts = [m.text for m in read_chat_log(DATA_DIR / "twitch_chat_en_madcookie" / "chat.log")]
    lines = [json.dumps({"text": t}) for t in texts[:3000]] + ["not json", '{"text": 1}']
    for scorer in (TorchScorer(load_bundle(BUNDLED_DIR)), RuleScorer.licensed(DATA_DIR)):
        gc.collect()
        assert gc.isenabled()
        score_lines(scorer, 0.5, lines, io.StringIO(), batch_size=1000)
        assert gc.isenabled()  # restored
        assert gc.collect() == 0


@needs_data
def test_fast_path_decides_like_one_message_at_a_time_on_real_chat() -> None:
    """The scorer's fast path (large batches sorted into length buckets, padded, the
    BiLSTM's fused kernel on reversed input, the CNN+BiLSTM's precomputed twin) against
    the plain one: each message alone, through the packed training path, on English and
    Korean chat."""
    import torch

    from bot.replay import read_chat_log
    from model.normalize import normalize

    bundle = load_bundle(BUNDLED_DIR)
    texts = []
    for log in (
        "twitch_chat_en_madcookie/chat.log",
        "twitch_chat_ko_boostcamp/twitch/#yd0821.log.gz",
    ):
        texts += [m.text for m in read_chat_log(DATA_DIR / log)][:1500]
    fast, _ = TorchScorer(bundle).probabilities(texts)
    plain = []
    for text in texts:
        ids = bundle.tokenizer.encode(normalize(text)).ids[: bundle.max_len]
        batch = torch.tensor([ids or [0]])
        with torch.enable_grad():  # the training path: packed sequences
            logit, _ = bundle.network(batch, batch != 0)
        plain.append(torch.sigmoid(logit).detach().item() if ids else 0.0)
    assert max(abs(a - b) for a, b in zip(fast, plain, strict=True)) < 1e-4
    for lang, part in (("en", slice(0, 1500)), ("ko", slice(1500, None))):
        threshold = bundle.thresholds[lang]
        assert [p >= threshold for p in fast[part]] == [p >= threshold for p in plain[part]]
        assert any(p >= threshold for p in plain[part])  # some of it is flagged
