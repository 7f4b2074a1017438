"""The scorer interface: texts in, a toxic probability (and category labels) per text out.

``bot`` talks to models only through :class:`Scorer` and :func:`load_scorer`, so the rule
baseline and the neural models are interchangeable. Scorers are called from one dedicated
inference thread; they need not be thread-safe but must not touch the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from model.errors import ModelLoadError

__all__ = ["DEFAULT_MODEL_URI", "Score", "Scorer", "load_scorer"]

#: What ``CHATWARDEN_MODEL_URI`` means when unset. The rule baseline for now: on real
#: Twitch chat the bundled neural model scores about 4.3 % of messages as toxic and, even
#: at the default sensitivity, reports 13 users per 2,000 messages (the rules 0.1-0.6), far
#: too many false reports for moderators (docs/benchmarks.md). It becomes the default once
#: it is precise on live chat.
DEFAULT_MODEL_URI = "rules"
BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"


@dataclass(frozen=True, slots=True)
class Score:
    """The verdict of a scorer on one message."""

    probability: float
    labels: tuple[str, ...] = ()
    #: What drove the score, for moderators (e.g. the listed terms the rules matched).
    evidence: tuple[str, ...] = ()


@runtime_checkable
class Scorer(Protocol):
    """Anything that turns a batch of texts into one :class:`Score` per text, in order."""

    @property
    def name(self) -> str:
        """Short name of the scorer kind, e.g. ``rules`` or ``cnn_bilstm``."""
        ...

    @property
    def version(self) -> str:
        """Which model made a decision; stored with every flag."""
        ...

    @property
    def threshold(self) -> float:
        """Probability at or above which the scorer calls a message toxic."""
        ...

    def score(self, texts: Sequence[str]) -> list[Score]:
        """Score ``texts``; must accept any string (empty, huge, control characters)."""
        ...


def load_scorer(uri: str | None, data_dir: Path | None, cache_dir: Path | None = None) -> Scorer:
    """Load the scorer named by ``uri`` (``CHATWARDEN_MODEL_URI``).

    Known URIs:

    * ``rules`` (the default) — the word-list baseline, read from ``data_dir/wordlists``;
    * ``bundled`` — the neural model shipped in ``model/bundled``;
    * a folder path (or ``file://`` URI) holding a trained model bundle;
    * ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``runs:/RUN_ID/PATH`` — from the
      MLflow tracking server (``MLFLOW_TRACKING_URI``), downloaded into ``cache_dir``.
    """
    uri = (uri or DEFAULT_MODEL_URI).strip()
    if uri.startswith(("models:/", "runs:/")):
        return load_registered(uri, cache_dir or Path(".chatwarden-model-cache"))
    if uri == "bundled":
        return _load_bundle_scorer(BUNDLED_DIR)
    if uri == "rules":
        from model.rules import RuleScorer

        if data_dir is None:
            raise ModelLoadError(
                "the rule scorer needs word lists, but no data dir is set: set "
                "CHATWARDEN_DATA_DIR to the folder holding wordlists/ (e.g. ../shared/data)"
            )
        return RuleScorer.from_data_dir(data_dir)
    path = Path(uri.removeprefix("file://")).expanduser()
    if path.is_dir():
        return _load_bundle_scorer(path)
    raise ModelLoadError(
        f"unknown model URI {uri!r}: expected 'bundled', 'rules' or the folder of a trained model"
    )


def load_registered(uri: str, cache_dir: Path) -> Scorer:
    """Resolve ``uri`` on the tracking server, download (cached) and load it on the CPU."""
    from model import registry

    ref = registry.resolve(uri)
    folder = registry.download(ref, cache_dir)
    scorer = _load_bundle_scorer(folder, label=ref.label)
    (cache_dir / "last.txt").write_text(folder.name + "\n" + ref.label + "\n", encoding="utf-8")
    return scorer


def load_last_cached(cache_dir: Path) -> Scorer | None:
    """The model last loaded from the registry into ``cache_dir``, if any."""
    marker = cache_dir / "last.txt"
    if not marker.is_file():
        return None
    name, _, label = marker.read_text(encoding="utf-8").partition("\n")
    folder = cache_dir / name.strip()
    if not (folder / "config.json").is_file():
        return None
    return _load_bundle_scorer(folder, label=label.strip() or None)


def _load_bundle_scorer(folder: Path, label: str | None = None) -> Scorer:
    from model.bundle import load_bundle
    from model.neural import TorchScorer

    bundle = load_bundle(folder)
    if label:
        bundle.version = label
    scorer: Scorer = TorchScorer(bundle)
    return scorer
