"""Binary classification metrics and threshold selection (plain Python, no sklearn)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Metrics", "average_precision", "best_threshold", "binary_metrics", "pr_curve"]


@dataclass(frozen=True, slots=True)
class Metrics:
    n: int
    accuracy: float
    precision: float
    recall: float
    f1: float  # F1 of the toxic class
    macro_f1: float  # mean F1 of both classes (TweetEval's official measure)
    tp: int
    fp: int
    fn: int
    tn: int


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def binary_metrics(labels: Sequence[int], probs: Sequence[float], threshold: float) -> Metrics:
    tp = fp = fn = tn = 0
    for y, p in zip(labels, probs, strict=True):
        pred = p >= threshold
        if pred and y:
            tp += 1
        elif pred:
            fp += 1
        elif y:
            fn += 1
        else:
            tn += 1
    n = tp + fp + fn + tn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = _f1(precision, recall)
    neg_p = tn / (tn + fn) if tn + fn else 0.0
    neg_r = tn / (tn + fp) if tn + fp else 0.0
    macro = (f1 + _f1(neg_p, neg_r)) / 2
    return Metrics(n, (tp + tn) / n if n else 0.0, precision, recall, f1, macro, tp, fp, fn, tn)


def pr_curve(labels: Sequence[int], probs: Sequence[float]) -> list[tuple[float, float, float]]:
    """``(threshold, precision, recall)`` at every distinct score, high to low."""
    pairs = sorted(zip(probs, labels, strict=True), key=lambda x: -x[0])
    positives = sum(labels)
    tp = fp = 0
    out: list[tuple[float, float, float]] = []
    for i, (p, y) in enumerate(pairs):
        tp += y
        fp += 1 - y
        if i + 1 == len(pairs) or pairs[i + 1][0] != p:
            out.append((p, tp / (tp + fp), tp / positives if positives else 0.0))
    return out


def average_precision(labels: Sequence[int], probs: Sequence[float]) -> float:
    ap = 0.0
    last_recall = 0.0
    for _, precision, recall in pr_curve(labels, probs):
        ap += precision * (recall - last_recall)
        last_recall = recall
    return ap


def best_threshold(labels: Sequence[int], probs: Sequence[float]) -> tuple[float, float]:
    """The threshold with the best toxic-class F1 on these labels, and that F1."""
    positives = sum(labels)
    best_t, best_f1 = 0.5, -1.0
    for t, precision, recall in pr_curve(labels, probs):
        f1 = _f1(precision, recall) if positives else 0.0
        if f1 > best_f1:
            best_t, best_f1 = t, f1
    return best_t, max(best_f1, 0.0)
