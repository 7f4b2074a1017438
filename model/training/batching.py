"""Batching helpers shared by the training loops (:mod:`~model.training.train`,
:mod:`~model.training.teacher`, :mod:`~model.training.mpl`): seeds, encoding, length
buckets, padded tensors and batched prediction. They import none of those loops, so
the loops do not import each other for them."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from model.normalize import normalize

__all__ = ["encode", "length_batches", "predict", "set_seed", "tensor"]


def set_seed(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def encode(tokenizer: Any, texts: Sequence[str], max_len: int) -> list[list[int]]:
    return [e.ids[:max_len] for e in tokenizer.encode_batch_fast([normalize(t) for t in texts])]


def length_batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Length-bucketed batches: shuffle, sort within pools of 50 batches, shuffle batches."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def tensor(rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(1, max(len(r) for r in rows))
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return ids, ids != 0


@torch.no_grad()
def predict(network: nn.Module, encoded: Sequence[Sequence[int]], batch: int = 256) -> list[float]:
    network.eval()
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    out = [0.0] * len(encoded)
    for start in range(0, len(order), batch):
        chunk = order[start : start + batch]
        ids, mask = tensor([encoded[i] for i in chunk])
        probs = torch.sigmoid(network(ids, mask)[0]).tolist()
        for i, p in zip(chunk, probs, strict=True):
            out[i] = float(p)
    return out
