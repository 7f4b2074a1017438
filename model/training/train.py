"""Training: data → tokenizer → network → early stopping on dev F1 → per-language thresholds.

The loop knows nothing about MLflow; :mod:`model.tracking` listens through ``on_epoch``.
Class imbalance is handled with ``pos_weight`` on the toxic loss; evasion is trained
against with :func:`model.augment.augment` at ``aug_rate``; batches are length-bucketed.
"""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from model.augment import augment
from model.bundle import Bundle
from model.chatlogs import CHAT_SOURCES, SHIPPABLE_CHAT, iter_chat
from model.data import SHIPPABLE, Example, botezlive_clean_chat, load_examples
from model.evaluation.metrics import best_threshold
from model.extras import needs_extra
from model.networks import ARCHS, CATEGORIES, NetworkConfig, build_network
from model.normalize import normalize
from model.tokenizer import train_tokenizer
from model.training.batching import encode, length_batches, predict, set_seed, tensor

with needs_extra("train", "training"):
    from tqdm import tqdm

#: Gives each training example its teacher's probability (``Example.teacher``), e.g.
#: :meth:`model.training.teacher.Teacher.label`.
Labeler = Callable[..., list[Example]]

__all__ = [
    "Labeler",
    "TrainConfig",
    "TrainResult",
    "chat_negatives",
    "soft_target",
    "train",
]


@dataclass(frozen=True)
class TrainConfig:
    arch: str = "cnn_bilstm"
    epochs: int = 6
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.01
    max_len: int = 64
    vocab_size: int = 24_000
    emb_dim: int = 96
    #: LSTM hidden size and convolution channels
    hidden: int = 32
    aug_rate: float = 0.5
    category_weight: float = 0.5
    max_examples: int | None = None
    langs: tuple[str, ...] = ("en", "ko")
    sources: tuple[str, ...] = SHIPPABLE
    chat_lines: int = 300_000
    #: Chat logs for the tokenizer; the default keeps to logs whose licence allows
    #: shipping the result ("all" for experiments with every log of the data dir).
    chat_sources: tuple[str, ...] = SHIPPABLE_CHAT
    seed: int = 13
    patience: int = 2
    #: Real English chat lines added to training as clean examples (label 0): a seeded
    #: sample of ``chat_negatives`` distinct lines of the MIT-licensed chat (the madcookie
    #: VOD chat and the botezlive lines of users no moderator acted on; see
    #: :func:`chat_negatives`). Chat is mostly clean; the few toxic lines among them are why
    #: they weigh ``chat_negative_weight`` in the loss.
    chat_negatives: int = 0
    chat_negative_weight: float = 1.0
    #: Share of a teacher's probability in the target of each training text that carries
    #: one (``Example.teacher``, see :mod:`model.training.teacher`):
    #: target = (1 − w)·label + w·teacher.
    teacher_weight: float = 0.5

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"unknown architecture {self.arch!r}; expected {', '.join(ARCHS)}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch size must be at least 1")
        if self.chat_negatives < 0:
            raise ValueError("chat negatives must be 0 or more")
        if not 0.0 < self.chat_negative_weight <= 1.0:
            raise ValueError("the chat negatives' weight must be above 0 and at most 1")
        if not 0.0 <= self.teacher_weight <= 1.0:
            raise ValueError("the teacher's weight must be between 0 and 1")
        unknown = set(self.chat_sources) - set(CHAT_SOURCES) - {"all"}
        if unknown:
            raise ValueError(
                f"unknown chat source(s) {sorted(unknown)}; known: "
                f"{', '.join(CHAT_SOURCES)} or 'all'"
            )

    def params(self) -> dict[str, Any]:
        return {k: (",".join(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


@dataclass
class TrainResult:
    bundle: Bundle
    history: list[dict[str, float]]
    dev: list[Example]
    dev_probs: list[float]
    seconds: float
    examples: dict[str, int] = field(default_factory=dict)


def thresholds_by_language(examples: Sequence[Example], probs: Sequence[float]) -> dict[str, float]:
    """Per-language thresholds that maximise toxic-class F1 on ``examples``."""
    out: dict[str, float] = {}
    for lang in sorted({e.lang for e in examples}):
        idx = [i for i, e in enumerate(examples) if e.lang == lang]
        out[lang], _ = best_threshold([examples[i].label for i in idx], [probs[i] for i in idx])
    return out


def _dev_score(examples: Sequence[Example], probs: Sequence[float]) -> dict[str, float]:
    scores: dict[str, float] = {}
    for lang in sorted({e.lang for e in examples}):
        idx = [i for i, e in enumerate(examples) if e.lang == lang]
        _, f1 = best_threshold([examples[i].label for i in idx], [probs[i] for i in idx])
        scores[f"dev_f1_{lang}"] = f1
    scores["dev_f1"] = sum(scores.values()) / max(1, len(scores))
    return scores


_MENTION = re.compile(r"@\w+")


def chat_negatives(
    data_dir: Path,
    n: int,
    *,
    seed: int = 13,
    weight: float = 1.0,
    exclude: Iterable[str] = (),
) -> list[Example]:
    """A seeded sample of ``n`` distinct lines of the shippable English chat (the madcookie
    VOD chat and the botezlive lines of users no moderator acted on), as clean training
    examples of loss weight ``weight``; @mentions become ``@user``, and lines whose
    normalised text is in ``exclude`` (the labelled sets' texts) are left out. Only chat
    whose licence allows shipping a model built from it: never the unlicensed logs."""
    pool: dict[str, tuple[str, str]] = {}
    skip = set(exclude)

    def add(text: str, source: str) -> None:
        key = normalize(text)
        if key and key not in skip:
            pool.setdefault(key, (text, source))

    for _, text in iter_chat(data_dir, ("en",), None, SHIPPABLE_CHAT):
        add(text, "chat_" + SHIPPABLE_CHAT[0])
    for text in botezlive_clean_chat(Path(data_dir)):
        add(_MENTION.sub("@user", text), "chat_botezlive")
    keys = sorted(pool)
    picked = sorted(random.Random(seed).sample(keys, min(n, len(keys))))
    return [Example(pool[k][0], 0, "en", pool[k][1], "train", weight=weight) for k in picked]


def soft_target(example: Example, teacher_weight: float) -> float:
    """The training target: the label, mixed with the teacher's probability if it has one."""
    if example.teacher is None:
        return float(example.label)
    return (1.0 - teacher_weight) * example.label + teacher_weight * example.teacher


def _subsample(items: list[Example], n: int | None, rng: random.Random) -> list[Example]:
    if n is None or len(items) <= n:
        return items
    keep = set(rng.sample(range(len(items)), n))
    return [ex for i, ex in enumerate(items) if i in keep]


def train(
    config: TrainConfig,
    data_dir: Path,
    *,
    progress: bool = True,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    examples: Sequence[Example] | None = None,
    label: Labeler | None = None,
) -> TrainResult:
    """Train one network; return it with its tokenizer and dev-chosen thresholds.

    ``examples`` may pass already loaded data (it must come from ``load_examples`` with
    this config's sources, languages and seed). With ``label`` (a teacher's
    :meth:`~model.training.teacher.Teacher.label`), each training text of the teacher's
    language gets its probability, mixed into the target (``config.teacher_weight``)."""
    started = time.perf_counter()
    set_seed(config.seed)
    rng = random.Random(config.seed)
    if examples is None:
        examples = load_examples(data_dir, config.sources, langs=config.langs, seed=config.seed)
    train_set = _subsample([e for e in examples if e.split == "train"], config.max_examples, rng)
    if label is not None:
        train_set = label(train_set, progress=progress)
    if config.chat_negatives > 0 and "en" in config.langs:
        train_set = train_set + chat_negatives(
            data_dir,
            config.chat_negatives,
            seed=config.seed,
            weight=config.chat_negative_weight,
            exclude={normalize(e.text) for e in examples},
        )
    dev_cap = None if config.max_examples is None else max(500, config.max_examples // 4)
    dev_set = _subsample([e for e in examples if e.split == "dev"], dev_cap, rng)
    if not train_set or not dev_set:
        raise ValueError("no training or dev examples for these languages and sources")

    chat_names = tuple(CHAT_SOURCES) if config.chat_sources == ("all",) else config.chat_sources
    n_sources = sum(1 for name in chat_names if CHAT_SOURCES[name][0] in config.langs)
    per_source = config.chat_lines // max(1, n_sources)
    chat = [t for _, t in iter_chat(data_dir, ("en", "ko"), per_source, chat_names)]
    corpus = [normalize(e.text) for e in train_set] + [normalize(t) for t in chat]
    tokenizer = train_tokenizer(corpus, vocab_size=config.vocab_size)

    net_cfg = NetworkConfig(
        config.arch,
        tokenizer.get_vocab_size(),
        emb_dim=config.emb_dim,
        hidden=config.hidden,
        channels=config.hidden,
    )
    network = build_network(net_cfg)
    labels = torch.tensor([e.label for e in train_set], dtype=torch.float32)
    targets = torch.tensor([soft_target(e, config.teacher_weight) for e in train_set])
    cat_targets = torch.tensor(
        [[1.0 if c in e.categories else 0.0 for c in CATEGORIES] for e in train_set]
    )
    has_cats = torch.tensor([bool(e.categories) for e in train_set])
    example_weights = torch.tensor([e.weight for e in train_set])
    positives = float((targets * example_weights).sum())  # the toxic mass the loss sees
    pos_weight = torch.tensor((float(example_weights.sum()) - positives) / max(1.0, positives))
    toxic_loss = nn.BCEWithLogitsLoss(pos_weight=pos_weight, reduction="none")
    cat_loss = nn.BCEWithLogitsLoss(reduction="none")
    optimizer = torch.optim.AdamW(
        network.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    steps_per_epoch = math.ceil(len(train_set) / config.batch_size)
    total = steps_per_epoch * config.epochs
    warmup = max(1, total // 20)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup)))
    )

    dev_encoded = encode(tokenizer, [e.text for e in dev_set], config.max_len)
    history: list[dict[str, float]] = []
    best: tuple[float, dict[str, torch.Tensor]] | None = None
    stale = 0
    for epoch in range(1, config.epochs + 1):
        network.train()
        texts = [augment(e.text, rng, config.aug_rate) for e in train_set]
        encoded = encode(tokenizer, texts, config.max_len)
        batches = length_batches([len(x) for x in encoded], config.batch_size, rng)
        running = 0.0
        bar = tqdm(
            batches,
            desc=f"{config.arch} epoch {epoch}/{config.epochs}",
            disable=not progress,
            unit="batch",
            leave=False,
        )
        for step, batch in enumerate(bar, 1):
            ids, mask = tensor([encoded[i] for i in batch])
            index = torch.tensor(batch)
            logit, cat_logits = network(ids, mask)
            w = example_weights[index]
            loss = (toxic_loss(logit, targets[index]) * w).sum() / w.sum()
            weights = (has_cats[index] & (labels[index] > 0)).float().unsqueeze(-1)
            if weights.sum() > 0:
                per = cat_loss(cat_logits, cat_targets[index]) * weights
                loss = loss + config.category_weight * per.sum() / (weights.sum() * len(CATEGORIES))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            running += loss.item()
            if step % 20 == 0:
                bar.set_postfix(loss=f"{running / step:.3f}")
        dev_probs = predict(network, dev_encoded)
        metrics = {
            "epoch": float(epoch),
            "train_loss": running / max(1, len(batches)),
            **_dev_score(dev_set, dev_probs),
        }
        history.append(metrics)
        if on_epoch is not None:
            on_epoch(epoch, metrics)
        if best is None or metrics["dev_f1"] > best[0]:
            best = (metrics["dev_f1"], {k: v.clone() for k, v in network.state_dict().items()})
            stale = 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    assert best is not None
    network.load_state_dict(best[1])
    network.eval()
    dev_probs = predict(network, dev_encoded)
    thresholds = thresholds_by_language(dev_set, dev_probs)
    version = f"{config.arch}-{time.strftime('%Y%m%d%H%M%S')}"
    bundle = Bundle(network, net_cfg, tokenizer, thresholds, config.max_len, version)
    counts = {"train": len(train_set), "dev": len(dev_set), "chat_lines": len(chat)}
    return TrainResult(bundle, history, dev_set, dev_probs, time.perf_counter() - started, counts)
