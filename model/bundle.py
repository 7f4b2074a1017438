"""A trained model on disk: one folder with everything needed to score.

::

    config.json     format, network config, max length, per-language thresholds, version
    tokenizer.json  the WordPiece tokenizer
    weights.pt      the network's state_dict (tensors only; loaded with weights_only=True)
    metrics.json    evaluation figures (optional)

Weights always load with ``map_location='cpu'``, so a model trained on a GPU scores on a
CPU-only server. A missing file, a tokenizer that does not match the embedding table or
weights that do not fit the config fail at load with a :class:`ModelLoadError` that says
which.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer
from torch import nn

from model.errors import ModelLoadError
from model.networks import NetworkConfig, build_network
from model.tokenizer import load_tokenizer

__all__ = ["FORMAT", "Bundle", "load_bundle", "save_bundle"]

FORMAT = "chatwarden-model/1"


@dataclass
class Bundle:
    network: nn.Module
    config: NetworkConfig
    tokenizer: Tokenizer
    thresholds: dict[str, float]
    max_len: int = 64
    version: str = "unversioned"
    metrics: dict[str, Any] = field(default_factory=dict)


def save_bundle(bundle: Bundle, folder: Path, *, half: bool = False) -> Path:
    """Write ``bundle`` to ``folder`` (fp16 weights with ``half=True``, for shipping)."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {
        k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
        for k, v in bundle.network.state_dict().items()
    }
    torch.save(state, folder / "weights.pt")
    bundle.tokenizer.save(str(folder / "tokenizer.json"))
    meta = {
        "format": FORMAT,
        "version": bundle.version,
        "network": bundle.config.to_dict(),
        "max_len": bundle.max_len,
        "thresholds": bundle.thresholds,
    }
    (folder / "config.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    (folder / "metrics.json").write_text(
        json.dumps(bundle.metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return folder


def load_bundle(folder: Path) -> Bundle:
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelLoadError(f"no model folder at {folder}")
    for name in ("config.json", "tokenizer.json", "weights.pt"):
        if not (folder / name).is_file():
            raise ModelLoadError(f"model at {folder} is incomplete: {name} is missing")
    try:
        meta = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ModelLoadError(f"{folder / 'config.json'} is not valid JSON: {exc}") from exc
    if meta.get("format") != FORMAT:
        raise ModelLoadError(f"{folder} holds format {meta.get('format')!r}, expected {FORMAT!r}")
    try:
        config = NetworkConfig.from_dict(meta["network"])
        thresholds = {str(k): float(v) for k, v in meta["thresholds"].items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{folder / 'config.json'} is malformed: {exc}") from exc
    tokenizer = load_tokenizer(folder / "tokenizer.json")
    if tokenizer.get_vocab_size() != config.vocab_size:
        raise ModelLoadError(
            f"tokenizer of {folder} has {tokenizer.get_vocab_size()} tokens but the network "
            f"expects {config.vocab_size}: the files do not belong together"
        )
    try:
        state = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or hostile file: never unpickle code
        raise ModelLoadError(f"cannot read the weights {folder / 'weights.pt'}: {exc}") from exc
    network = build_network(config)
    try:
        network.load_state_dict({k: v.float() for k, v in state.items()})
    except (RuntimeError, AttributeError) as exc:
        raise ModelLoadError(f"weights in {folder} do not fit its config: {exc}") from exc
    network.eval()
    metrics: dict[str, Any] = {}
    if (folder / "metrics.json").is_file():
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    return Bundle(
        network,
        config,
        tokenizer,
        thresholds,
        int(meta.get("max_len", 64)),
        str(meta.get("version", folder.name)),
        metrics,
    )
