"""Learning from unlabeled real chat: plain pseudo-labelling and Meta Pseudo Labels.

Both start from a supervised network (the *teacher*, trained by :func:`model.training.train.train`)
and train a fresh *student* of the same shape with the same tokenizer, then fine-tune
the student on the labeled training set and choose its thresholds on dev.

* ``pseudo`` — the teacher is frozen; each step the student learns from a labeled batch
  plus the teacher's confident hard labels on an unlabeled batch (seen through an
  evasion-perturbed view).
* ``mpl`` — Meta Pseudo Labels (Pham et al., arXiv 2003.10580), binary version of the
  authors' reduced first-order algorithm. Each step: the teacher labels the unlabeled
  batch; the student takes one step on those hard labels only; the change of the
  student's loss on a labeled batch, ``h = loss_before - loss_after``, is the feedback,
  and the teacher minimises ``h · BCE(teacher(x_u'), ŷ)`` (labels that helped the student
  become likelier) plus its own supervised loss and a UDA consistency loss (sharpened
  predictions on the clean view as targets for the perturbed view, masked by confidence).
  The sign follows the derivation (``old - new``), not the authors' released code.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from model.augment import augment, perturb
from model.bundle import Bundle
from model.data import Example
from model.extras import needs_extra
from model.networks import build_network
from model.training.batching import encode, predict, set_seed, tensor
from model.training.train import TrainResult, thresholds_by_language

with needs_extra("train", "training"):
    from tqdm import tqdm

__all__ = ["MODES", "SemiConfig", "train_semi"]

MODES = ("pseudo", "mpl")


@dataclass(frozen=True)
class SemiConfig:
    steps: int = 1500
    batch_size: int = 64
    unlabeled_ratio: int = 2
    lr: float = 1e-3
    confidence: float = 0.9
    temperature: float = 0.7
    uda_weight: float = 1.0
    finetune_epochs: int = 1
    finetune_lr: float = 5e-4
    seed: int = 13

    def params(self) -> dict[str, Any]:
        return asdict(self)


def _bce(pos_weight: torch.Tensor) -> nn.BCEWithLogitsLoss:
    return nn.BCEWithLogitsLoss(pos_weight=pos_weight)


def train_semi(
    mode: str,
    teacher_result: TrainResult,
    labeled: Sequence[Example],
    unlabeled: Sequence[str],
    cfg: SemiConfig,
    *,
    progress: bool = True,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
) -> tuple[Bundle, list[dict[str, float]]]:
    """Train a student on ``unlabeled`` chat with ``mode``; returns its bundle and history."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if not labeled or not unlabeled:
        raise ValueError("semi-supervised training needs labeled and unlabeled texts")
    set_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    base = teacher_result.bundle
    tokenizer, max_len = base.tokenizer, base.max_len
    teacher = copy.deepcopy(base.network)
    student = build_network(base.config)
    labels = torch.tensor([e.label for e in labeled], dtype=torch.float32)
    positives = float(labels.sum())
    bce = _bce(torch.tensor((len(labeled) - positives) / max(1.0, positives)))
    plain = nn.BCEWithLogitsLoss(reduction="none")
    s_opt = torch.optim.AdamW(student.parameters(), lr=cfg.lr)
    t_opt = torch.optim.AdamW(teacher.parameters(), lr=cfg.lr / 5) if mode == "mpl" else None
    teacher.train(mode == "mpl")
    history: list[dict[str, float]] = []
    texts = [e.text for e in labeled]

    def batch_tensor(batch: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        return tensor(encode(tokenizer, batch, max_len))

    bar = tqdm(
        range(1, cfg.steps + 1),
        desc=f"{mode} student",
        unit="step",
        disable=not progress,
        leave=False,
    )
    for step in bar:
        li = rng.sample(range(len(labeled)), min(cfg.batch_size, len(labeled)))
        x_l = batch_tensor([augment(texts[i], rng, 0.2) for i in li])
        y_l = labels[li]
        u = rng.sample(
            range(len(unlabeled)), min(cfg.batch_size * cfg.unlabeled_ratio, len(unlabeled))
        )
        weak = [unlabeled[i] for i in u]
        x_uw = batch_tensor(weak)
        x_us = batch_tensor([perturb(t, rng) for t in weak])
        student.train()
        if mode == "pseudo":
            with torch.no_grad():
                t_uw = teacher(*x_uw)[0]
            p = torch.sigmoid(t_uw)
            mask = (torch.maximum(p, 1 - p) >= cfg.confidence).float()
            hard = (t_uw > 0).float()
            s_loss = bce(student(*x_l)[0], y_l) + (plain(student(*x_us)[0], hard) * mask).sum() / (
                mask.sum().clamp(min=1.0)
            )
            s_opt.zero_grad(set_to_none=True)
            s_loss.backward()
            nn.utils.clip_grad_norm_(student.parameters(), 1.0)
            s_opt.step()
            row = {"student_loss": s_loss.item(), "mask_rate": mask.mean().item()}
        else:
            assert t_opt is not None
            t_l = teacher(*x_l)[0]
            t_uw = teacher(*x_uw)[0]
            t_us = teacher(*x_us)[0]
            soft = torch.sigmoid(t_uw.detach() / cfg.temperature)
            mask = (torch.maximum(soft, 1 - soft) >= cfg.confidence).float()
            uda = (plain(t_us, soft) * mask).sum() / mask.sum().clamp(min=1.0)
            t_uda = bce(t_l, y_l) + cfg.uda_weight * uda
            hard = (t_uw.detach() > 0).float()
            with torch.no_grad():
                old = bce(student(*x_l)[0], y_l)
            s_loss = plain(student(*x_us)[0], hard).mean()
            s_opt.zero_grad(set_to_none=True)
            s_loss.backward()
            nn.utils.clip_grad_norm_(student.parameters(), 1.0)
            s_opt.step()
            with torch.no_grad():
                new = bce(student(*x_l)[0], y_l)
            h = (old - new).item()
            t_mpl = h * plain(t_us, hard).mean()
            t_loss = t_uda + t_mpl
            t_opt.zero_grad(set_to_none=True)
            t_loss.backward()
            nn.utils.clip_grad_norm_(teacher.parameters(), 1.0)
            t_opt.step()
            row = {
                "student_loss": s_loss.item(),
                "teacher_loss": t_loss.item(),
                "mpl_feedback": h,
                "mask_rate": mask.mean().item(),
            }
        history.append(row)
        if on_step is not None and step % 50 == 0:
            on_step(step, row)
        if step % 20 == 0:
            bar.set_postfix(loss=f"{row['student_loss']:.3f}")
    _finetune(student, labeled, tokenizer, max_len, bce, cfg, rng, progress)
    student.eval()
    dev = teacher_result.dev
    dev_probs = predict(student, encode(tokenizer, [e.text for e in dev], max_len))
    thresholds = thresholds_by_language(dev, dev_probs)
    version = f"{base.config.arch}-{mode}-{time.strftime('%Y%m%d%H%M%S')}"
    return Bundle(student, base.config, tokenizer, thresholds, max_len, version), history


def _finetune(
    student: nn.Module,
    labeled: Sequence[Example],
    tokenizer: Any,
    max_len: int,
    loss: nn.Module,
    cfg: SemiConfig,
    rng: random.Random,
    progress: bool,
) -> None:
    """The last stage of both methods: the student learns the labeled set directly."""
    optimizer = torch.optim.AdamW(student.parameters(), lr=cfg.finetune_lr)
    student.train()
    for epoch in range(cfg.finetune_epochs):
        order = list(range(len(labeled)))
        rng.shuffle(order)
        batches = [order[i : i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
        for batch in tqdm(
            batches, desc=f"fine-tune {epoch + 1}", unit="batch", disable=not progress, leave=False
        ):
            ids, mask = tensor(
                encode(tokenizer, [augment(labeled[i].text, rng, 0.2) for i in batch], max_len)
            )
            y = torch.tensor([float(labeled[i].label) for i in batch])
            out = loss(student(ids, mask)[0], y)
            optimizer.zero_grad(set_to_none=True)
            out.backward()
            nn.utils.clip_grad_norm_(student.parameters(), 1.0)
            optimizer.step()
