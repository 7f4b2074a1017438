"""A short real training run on a small slice of the real data, tracked in MLflow."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from model.data import load_examples
from model.evaluation.metrics import binary_metrics
from model.rules import RuleScorer
from tests.conftest import DATA_DIR, ROOT, needs_data

pytestmark = needs_data  # every test here trains on, or reads, the data dir's sets


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("train")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHATWARDEN_", "MLFLOW_"))}
    env.update(
        CHATWARDEN_DATA_DIR=str(DATA_DIR),
        PYTHONPATH=str(ROOT),
        MLFLOW_TRACKING_URI=f"sqlite:///{work}/mlflow.db",
        MLFLOW_DISABLE_TELEMETRY="true",
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "train",
            "--arch",
            "cnn_bilstm",
            "--epochs",
            "2",
            "--max-examples",
            "4000",
            "--chat-lines",
            "20000",
            "--vocab-size",
            "8000",
            "--chat-negatives",
            "1500",
            "--out",
            str(work / "models"),
            "--json",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout)
    result["work"] = work
    result["env"] = env
    return result


def test_short_run_beats_the_rule_baseline_on_dev(trained: dict[str, Any]) -> None:
    dev = [e for e in load_examples(DATA_DIR) if e.split == "dev"]
    rules = RuleScorer.from_data_dir(DATA_DIR)
    rule_f1 = {}
    for lang in ("en", "ko"):
        rows = [e for e in dev if e.lang == lang]
        probs = [s.probability for s in rules.score([e.text for e in rows])]
        rule_f1[lang] = binary_metrics([e.label for e in rows], probs, rules.threshold).f1
    best = max(trained["history"], key=lambda h: h["dev_f1"])
    for lang in ("en", "ko"):
        assert best[f"dev_f1_{lang}"] > rule_f1[lang], (lang, best, rule_f1)
    assert best["dev_f1"] > sum(rule_f1.values()) / 2 + 0.05, (best, rule_f1)
    assert set(trained["thresholds"]) == {"en", "ko"}
    assert trained["examples"]["train"] == 4000 + 1500  # the slice plus real chat as clean
    groups = {row["group"] for row in trained["test"]}
    assert groups == {"ko", "en-off", "en-hate"}


def test_chat_negatives_are_a_seeded_weighted_sample_of_licensed_chat() -> None:
    from model.normalize import normalize
    from model.training.train import chat_negatives

    first = chat_negatives(DATA_DIR, 3000, weight=0.25)
    assert len(first) == 3000
    assert all(e.label == 0 and e.lang == "en" and e.split == "train" for e in first)
    assert all(e.weight == 0.25 for e in first)
    # both MIT-licensed chats, nothing else; distinct texts, no usernames
    assert {e.source for e in first} == {"chat_madcookie_en", "chat_botezlive"}
    keys = [normalize(e.text) for e in first]
    assert len(set(keys)) == len(keys)
    assert not [t for t in keys if re.search(r"@(?!user\b)\w", t)]
    assert chat_negatives(DATA_DIR, 3000, weight=0.25) == first  # deterministic
    assert chat_negatives(DATA_DIR, 3000, seed=14, weight=0.25) != first
    # texts of the labelled sets are left out
    assert not set(keys) & {normalize(e.text) for e in chat_negatives(DATA_DIR, 3000, exclude=keys)}


def test_run_is_tracked_in_mlflow_with_all_artifacts(trained: dict[str, Any]) -> None:
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=trained["env"]["MLFLOW_TRACKING_URI"])
    run = client.get_run(trained["run_id"])
    assert run.data.params["arch"] == "cnn_bilstm" and run.data.params["max_examples"] == "4000"
    history = client.get_metric_history(run.info.run_id, "dev_f1")
    assert [m.step for m in history] == [1, 2]
    assert "test_ko_f1" in run.data.metrics and "test_en-off_macro_f1" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert artifacts == {
        "model/config.json",
        "model/tokenizer.json",
        "model/weights.pt",
        "model/metrics.json",
    }
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert plots == {"plots/confusion_matrix.png", "plots/pr_curve.png"}
    local = Path(client.download_artifacts(run.info.run_id, "plots/pr_curve.png"))
    assert local.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_score_uses_a_trained_model_folder(trained: dict[str, Any]) -> None:
    env = {**trained["env"], "CHATWARDEN_MODEL_URI": trained["model"]}
    lines = [
        json.dumps({"text": t})
        for t in ["you are a fucking idiot", "good game everyone", "", "시발 꺼져 병신아"]
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "score"],
        input="\n".join(lines),
        env=env,
        cwd=trained["work"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(out) == 4 and all(0.0 <= o["score"] <= 1.0 for o in out)
    assert out[2] == {"score": 0.0, "flagged": False, "toxic": False, "labels": [], "why": []}
    # the command scored with exactly that model folder
    from model.bundle import load_bundle
    from model.neural import TorchScorer

    expected = TorchScorer(load_bundle(Path(trained["model"]))).score(
        [json.loads(line)["text"] for line in lines]
    )
    assert [o["score"] for o in out] == [round(s.probability, 6) for s in expected]
    assert [o["flagged"] for o in out[:3]] == [s.probability >= 0.5 for s in expected[:3]]
    assert out[3]["flagged"]  # the policy reads the vocative insult `병신아` itself


def test_mpl_compares_supervised_pseudo_labels_and_mpl(tmp_path: Path) -> None:
    """`train --mpl` on a tiny slice: three models on the same splits, in MLflow and markdown."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHATWARDEN_", "MLFLOW_"))}
    env.update(
        CHATWARDEN_DATA_DIR=str(DATA_DIR),
        PYTHONPATH=str(ROOT),
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlflow.db",
        MLFLOW_DISABLE_TELEMETRY="true",
    )
    md = tmp_path / "bench.md"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "train",
            "--mpl",
            "--arch",
            "cnn",
            "--epochs",
            "1",
            "--max-examples",
            "1500",
            "--steps",
            "60",
            "--unlabeled-lines",
            "6000",
            "--chat-lines",
            "5000",
            "--vocab-size",
            "4000",
            "--out",
            str(tmp_path / "models"),
            "--write",
            str(md),
            "--json",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(proc.stdout)
    assert [r["method"] for r in rows] == ["supervised", "pseudo", "mpl"]
    for r in rows:
        assert set(r["f1"]) == {"ko", "en-off", "en-hate"}
        assert all(0 < v <= 1 for v in r["f1"].values())
        # 1,231 banned users' last messages against 20,000 never-banned ones: AP is a
        # real measurement, not a constant
        assert 0 < r["ban_ap"] < 1 and 0 <= r["never_banned_rate"] <= 1
    assert len({tuple(r["f1"].values()) for r in rows}) > 1  # the students differ
    text = md.read_text()
    assert "<!-- semi-supervised:start -->" in text and "| mpl |" in text

    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    by_method = {run.data.params["method"]: run for run in runs}
    assert set(by_method) == {"supervised", "pseudo", "mpl"}
    assert "ban_ap" in by_method["mpl"].data.metrics
    feedback = client.get_metric_history(by_method["mpl"].info.run_id, "mpl_feedback")
    assert len(feedback) == 1 and feedback[0].step == 50  # logged every 50 steps

    from model.bundle import load_bundle
    from model.neural import TorchScorer

    for r in rows:
        scorer = TorchScorer(load_bundle(tmp_path / "models" / r["version"]))
        assert len(scorer.score(["gg", "", "씨발 꺼져"])) == 3
