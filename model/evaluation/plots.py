"""PNG plots for people: confusion matrices and precision-recall curves (matplotlib, Agg)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from model.evaluation.metrics import Metrics, pr_curve
from model.extras import needs_extra

__all__ = ["confusion_png", "pr_curve_png"]


def _pyplot() -> Any:
    with needs_extra("train", "plotting"):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

    return plt


def confusion_png(metrics: Mapping[str, Metrics], path: Path, title: str) -> Path:
    """One confusion matrix per test group, side by side."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.4), squeeze=False)
    for ax, (name, m) in zip(axes[0], metrics.items(), strict=True):
        cells = [[m.tn, m.fp], [m.fn, m.tp]]
        ax.imshow(cells, cmap="Blues")
        for r in range(2):
            for c in range(2):
                ax.text(c, r, str(cells[r][c]), ha="center", va="center", fontsize=12)
        ax.set_xticks([0, 1], ["clean", "toxic"])
        ax.set_yticks([0, 1], ["clean", "toxic"])
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{name}\nF1 {m.f1:.3f}  acc {m.accuracy:.3f}", fontsize=10)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def pr_curve_png(
    curves: Mapping[str, tuple[Sequence[int], Sequence[float]]], path: Path, title: str
) -> Path:
    """Precision-recall curves, one line per (name → labels, probabilities)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for name, (labels, probs) in curves.items():
        points = pr_curve(labels, probs)
        ax.plot([r for _, _, r in points], [p for _, p, _ in points], label=name)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
