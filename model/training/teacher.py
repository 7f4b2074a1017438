"""A large English teacher for distillation: MiniLM-L6 fine-tuned on labelled English sets.

The shipped networks are small (2.3 M parameters, mostly embeddings) and learn only from
the labels of the training sets. A pretrained sentence encoder fine-tuned on the same
tweets knows English far better; its probabilities, mixed into the small network's
training targets (``TrainConfig.teacher_weight``), carry that knowledge into a network
that keeps its size and speed (docs/benchmarks.md, "Models on the public test splits").

The encoder, ``all-MiniLM-L6-v2`` as a plain-torch BERT fetched from a verified PyPI wheel,
is in :mod:`model.training.encoder`; this module fine-tunes it, labels training texts with
it and keeps fine-tuned teachers in a cache.

By default the teacher learns TweetEval offensive alone. ``TeacherConfig.sources`` names
more sets (the conversational ones: ConvAbuse, ToxiChat, SBIC, the botezlive moderator
labels, …) and ``chat`` clean lines of licensed chat: a teacher that has read chat, whose
probabilities carry that into the small network (issue 29, "train it for chat").

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
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer
from torch import nn

from model.data import KOREAN, SHIPPABLE, Example
from model.errors import ModelLoadError
from model.evaluation.metrics import binary_metrics
from model.extras import needs_extra
from model.training.batching import length_batches
from model.training.encoder import FETCHED, MiniLM, fetch_encoder

with needs_extra("train", "training"):
    from tqdm import tqdm

__all__ = [
    "CHAT_SETS",
    "ENGLISH_SETS",
    "Teacher",
    "TeacherConfig",
    "TeacherResult",
    "fit_teacher",
    "teach",
]


#: the labelled English sets a shipped teacher may learn (model.data.SHIPPABLE; DATA.md)
ENGLISH_SETS = tuple(s for s in SHIPPABLE if s not in KOREAN)
#: the teacher that has read conversation (``--teacher-sets chat``): TweetEval offensive
#: and the sets of replies, threads and moderated chat, implicit hate and emoji hate;
#: Davidson (tweets scraped for slurs) and TweetEval hate (HatEval's immigrants and women
#: tweets) are left to the small network's own labels
CHAT_SETS = (
    "tweeteval_offensive",
    "convabuse",
    "toxichat",
    "sbic",
    "botezlive",
    "hatemoji",
    "stormfront",
    "toxigen_seeds",
)


# --- the teacher --------------------------------------------------------------------------


@dataclass(frozen=True)
class TeacherConfig:
    """Fine-tuning recipe: 2 epochs, batch 32, lr 5e-5 with 6 % warm-up then linear decay,
    mean pooling and a linear head, ``pos_weight`` for the imbalance, 64 tokens; on the
    training splits of ``sources`` (English sets of :data:`model.data.SHIPPABLE`) and
    ``chat_negatives`` clean chat lines (:func:`model.training.train.chat_negatives`)."""

    sources: tuple[str, ...] = ("tweeteval_offensive",)
    chat_negatives: int = 0
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
        if not self.sources:
            raise ValueError("the teacher needs at least one labelled set")
        unknown = [x for x in self.sources if x not in ENGLISH_SETS]
        if unknown:
            raise ValueError(
                f"the teacher learns English sets only ({', '.join(ENGLISH_SETS)}); "
                f"not {', '.join(unknown)}"
            )
        if self.chat_negatives < 0:
            raise ValueError("the teacher's chat negatives must be ≥ 0")
        if self.max_examples is not None and self.max_examples < 1:
            raise ValueError("the teacher's max examples must be ≥ 1")
        # one recipe, one cache entry, whatever the order the sets were named in
        object.__setattr__(self, "sources", tuple(sorted(set(self.sources))))

    def params(self) -> dict[str, Any]:
        params = {f"teacher_{k}": v for k, v in asdict(self).items()}
        params["teacher_sources"] = ",".join(self.sources)
        return params

    def describe(self) -> str:
        """The sets it learns, for people: ``tweeteval_offensive + convabuse + 8,000 chat
        lines``."""
        chat = f" + {self.chat_negatives:,} chat lines" if self.chat_negatives else ""
        return " + ".join(self.sources) + chat


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
    #: macro-F1 on the sources' dev and test splits together, at the threshold chosen on dev
    dev_macro_f1: float
    test_macro_f1: float
    threshold: float
    train_examples: int
    seconds: float
    #: loaded from the cache of fine-tuned teachers (``seconds`` is then the original fit's)
    cached: bool = False
    #: of ``train_examples``, the clean chat lines (``max_examples`` samples both together)
    chat_examples: int = 0

    def metrics(self) -> dict[str, float]:
        return {
            "teacher_dev_macro_f1": self.dev_macro_f1,
            "teacher_test_macro_f1": self.test_macro_f1,
            "teacher_threshold": self.threshold,
            "teacher_train_examples": float(self.train_examples),
            "teacher_chat_examples": float(self.chat_examples),
            "teacher_seconds": self.seconds,
        }


def _macro_f1(labels: Sequence[int], probs: Sequence[float], threshold: float) -> float:
    return binary_metrics(labels, probs, threshold).macro_f1


def fit_teacher(
    examples: Sequence[Example],
    encoder_dir: Path,
    config: TeacherConfig = TeacherConfig(),
    *,
    chat: Sequence[Example] = (),
    progress: bool = True,
) -> TeacherResult:
    """Fine-tune the encoder on the training splits of ``config.sources`` and the clean
    ``chat`` lines; measure it on the sources' dev and test splits (macro-F1, TweetEval's
    official measure; the chat lines are training only)."""
    started = time.perf_counter()
    rng = random.Random(config.seed)
    torch.manual_seed(config.seed)
    mine = [e for e in examples if e.source in config.sources and e.lang == Teacher.lang]
    split = {s: [e for e in mine if e.split == s] for s in ("train", "dev", "test")}
    train = split["train"] + [e for e in chat if e.label == 0]
    missing = set(config.sources) - {e.source for e in split["train"]}
    if missing:
        raise ValueError(
            f"the teacher has no training examples of {', '.join(sorted(missing))}: "
            "not in the data dir (DATA.md §6)"
        )
    if config.max_examples is not None and len(train) > config.max_examples:
        train = rng.sample(train, config.max_examples)
    if not split["dev"]:
        raise ValueError(f"the teacher needs dev examples of {config.describe()}")
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
        chat_examples=sum(1 for e in train if e.source.startswith("chat_")),
    )


def teach(
    examples: Sequence[Example],
    cache_dir: Path,
    config: TeacherConfig = TeacherConfig(),
    *,
    chat: Sequence[Example] = (),
    progress: bool = True,
) -> TeacherResult:
    """Fetch the encoder (once) and fine-tune it on ``examples``' ``config.sources`` and the
    clean ``chat`` lines.

    The fine-tuned teacher is kept in ``cache_dir/teacher/<key>`` (91 MB), the key being a
    hash of the recipe, the encoder and the sources' and chat's texts and labels: the same
    command run again reuses it instead of fine-tuning for another 10-15 minutes."""
    encoder_dir = fetch_encoder(cache_dir, progress=progress)
    saved = cache_dir / "teacher" / _fingerprint([*examples, *chat], config, encoder_dir)
    if (saved / _RESULT).is_file():
        try:
            return _load_teacher(saved, encoder_dir, config)
        except (ModelLoadError, KeyError, ValueError) as exc:
            log.warning("the cached teacher in %s is unusable (%s); fine-tuning again", saved, exc)
    result = fit_teacher(examples, encoder_dir, config, chat=chat, progress=progress)
    _save_teacher(result, saved)
    return result


_RESULT = "teacher.json"

log = logging.getLogger(__name__)


def _fingerprint(examples: Sequence[Example], config: TeacherConfig, encoder_dir: Path) -> str:
    digest = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode())
    digest.update((encoder_dir / FETCHED).read_bytes())
    for e in examples:
        if e.source in config.sources or e.source.startswith("chat_"):
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
        "chat_examples": result.chat_examples,
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
        chat_examples=int(figures.get("chat_examples", 0)),
    )
