"""The three classifiers of the original project: TextCNN, BiLSTM and CNN+BiLSTM.

Each takes token ids ``(B, T)`` and a padding mask ``(B, T)`` (True on real tokens) and
returns a toxic logit ``(B,)`` and category logits ``(B, C)``. Pooling is masked, so
padding never changes a score: the same message scores the same alone or in a batch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["ARCHS", "FrozenCnnBiLSTM", "NetworkConfig", "build_network", "for_inference"]

ARCHS = ("cnn", "bilstm", "cnn_bilstm")
CATEGORIES = ("profanity", "insult", "hate", "sexual", "threat")


@dataclass(frozen=True)
class NetworkConfig:
    """Hyperparameters of one network; saved as ``config.json`` beside its weights."""

    arch: str
    vocab_size: int
    # Small on purpose: on our data 96/32/32 scores like 128/128/128 (test F1 within the
    # ±0.02 that seeds move it) at a third of the CPU time (docs/benchmarks.md).
    emb_dim: int = 96
    channels: int = 32
    kernel_sizes: tuple[int, ...] = (2, 3, 4, 5)
    hidden: int = 32
    dropout: float = 0.3
    categories: tuple[str, ...] = field(default=CATEGORIES)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> NetworkConfig:
        raw = dict(raw)
        raw["kernel_sizes"] = tuple(raw.get("kernel_sizes", (2, 3, 4, 5)))
        raw["categories"] = tuple(raw.get("categories", CATEGORIES))
        return cls(**raw)


def masked_max(x: Tensor, mask: Tensor) -> Tensor:
    """Max over time of ``x (B, T, D)`` ignoring padded steps; an all-pad row gives 0."""
    filled = x.masked_fill(~mask.unsqueeze(-1), float("-inf"))
    pooled = filled.max(dim=1).values  # (B, D)
    return torch.nan_to_num(pooled, neginf=0.0)


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)  # (B, D)


class _Network(nn.Module):
    heads: _Heads

    def _heads(self, pooled: Tensor) -> tuple[Tensor, Tensor]:
        return self.heads.forward(pooled)


class _Heads(nn.Module):
    def __init__(self, features: int, categories: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.toxic = nn.Linear(features, 1)
        self.categories = nn.Linear(features, categories)

    def forward(self, pooled: Tensor) -> tuple[Tensor, Tensor]:
        h = self.dropout(pooled)
        toxic: Tensor = self.toxic(h).squeeze(-1)  # (B,)
        categories: Tensor = self.categories(h)  # (B, C)
        return toxic, categories


class TextCNN(_Network):
    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(cfg.vocab_size, cfg.emb_dim, padding_idx=0)
        self.convs = nn.ModuleList(
            nn.Conv1d(cfg.emb_dim, cfg.channels, k, padding=k // 2) for k in cfg.kernel_sizes
        )
        self.heads = _Heads(cfg.channels * len(cfg.kernel_sizes), len(cfg.categories), cfg.dropout)

    def forward(self, ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        x = self.embed(ids).transpose(1, 2)  # (B, E, T)
        t = ids.shape[1]
        pooled = [
            masked_max(torch.relu(conv(x))[:, :, :t].transpose(1, 2), mask) for conv in self.convs
        ]
        return self._heads(torch.cat(pooled, dim=-1))


class BiLSTM(_Network):
    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(cfg.vocab_size, cfg.emb_dim, padding_idx=0)
        self.lstm = nn.LSTM(cfg.emb_dim, cfg.hidden, batch_first=True, bidirectional=True)
        self.heads = _Heads(4 * cfg.hidden, len(cfg.categories), cfg.dropout)

    def forward(self, ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        h = _run_lstm(self.lstm, self.embed(ids), mask)  # (B, T, 2H)
        return self._heads(torch.cat([masked_max(h, mask), masked_mean(h, mask)], dim=-1))


class CnnBiLSTM(_Network):
    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(cfg.vocab_size, cfg.emb_dim, padding_idx=0)
        self.conv = nn.Conv1d(cfg.emb_dim, cfg.channels, 3, padding=1)
        self.lstm = nn.LSTM(cfg.channels, cfg.hidden, batch_first=True, bidirectional=True)
        self.heads = _Heads(2 * cfg.hidden, len(cfg.categories), cfg.dropout)

    def forward(self, ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        x = torch.relu(self.conv(self.embed(ids).transpose(1, 2))).transpose(1, 2)  # (B, T, C)
        x = x * mask.unsqueeze(-1).to(x.dtype)
        h = _run_lstm(self.lstm, x, mask)  # (B, T, 2H)
        return self._heads(masked_max(h, mask))


def _run_lstm(lstm: nn.LSTM, x: Tensor, mask: Tensor) -> Tensor:
    """Run the bidirectional LSTM so that the backward direction starts at each message's
    last real token, not at the padding. Outputs at padded steps are undefined (callers
    pool with the mask).

    Training packs the sequences. Inference runs each direction on the padded batch with
    the backward direction's input reversed within each message's length: the same
    numbers (to float rounding) through the CPU's fused RNN kernel instead of one small
    step per time step, which is 25-35 % faster on length-bucketed chat."""
    if torch.is_grad_enabled() or lstm.num_layers != 1 or not lstm.bidirectional:
        lengths = mask.sum(dim=1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(
            x, lengths, batch_first=True, enforce_sorted=False
        )
        out, _ = lstm(packed)
        h, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return h
    return _run_lstm_reversed(lstm, x, mask)


def _run_lstm_reversed(lstm: nn.LSTM, x: Tensor, mask: Tensor) -> Tensor:
    batch, steps, features = x.shape
    t = torch.arange(steps, device=x.device).unsqueeze(0)
    lengths = mask.sum(dim=1, keepdim=True)
    # position t of the reversed message reads position length-1-t; padding stays put
    index = torch.where(t < lengths, lengths - 1 - t, t).unsqueeze(-1)
    h0 = x.new_zeros(1, batch, lstm.hidden_size)
    forward, backward = _direction_params(lstm, ""), _direction_params(lstm, "_reverse")
    # torch.lstm(input, (h0, c0), params, has_biases, layers, dropout, train, bidirectional,
    # batch_first) is what nn.LSTM.forward calls, here once per direction
    out_f = torch.lstm(x, (h0, h0), forward, True, 1, 0.0, False, False, True)[0]
    reversed_x = x.gather(1, index.expand(-1, -1, features))
    out_b = torch.lstm(reversed_x, (h0, h0), backward, True, 1, 0.0, False, False, True)[0]
    out_b = out_b.gather(1, index.expand(-1, -1, out_b.shape[2]))
    return torch.cat([out_f, out_b], dim=-1)


def _direction_params(lstm: nn.LSTM, suffix: str) -> list[Tensor]:
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    return [getattr(lstm, f"{name}_l0{suffix}") for name in names]


class FrozenCnnBiLSTM(nn.Module):
    """An inference-only twin of a trained :class:`CnnBiLSTM`: the same scores (to float
    rounding) in about 60 % of the CPU time on chat. Taken after training; later changes
    to the original's weights are not seen.

    * Embedding then convolution is linear, so each vocabulary entry's contribution to
      each of the 3 kernel taps is computed once: one lookup of ``(V, 3C)`` rows, shifted
      and added, replaces the ``(V, E)`` lookup and the convolution (the padding id's
      embedding is zero, as the convolution's zero padding is).
    * The backward direction reads each message reversed within its length; the token
      ids are reversed (cheap) instead of the convolved features, with the kernel's taps
      swapped.
    * Max pooling over time does not depend on order, so the backward outputs are pooled
      as they come, without being put back in place.
    """

    def __init__(self, network: CnnBiLSTM) -> None:
        super().__init__()
        with torch.no_grad():
            weight = network.conv.weight.detach().float()  # (C, E, 3)
            embed = network.embed.weight.detach().float()  # (V, E)
            taps = torch.cat([embed @ weight[:, :, k].T for k in range(3)], dim=1)
        assert network.conv.bias is not None
        self.channels = weight.shape[0]
        self.taps = taps.contiguous()  # (V, 3C): the taps before, at and after a token
        self.bias = network.conv.bias.detach().float().clone()
        self.forward_params = _direction_params(network.lstm, "")
        self.backward_params = _direction_params(network.lstm, "_reverse")
        self.hidden = network.lstm.hidden_size
        self.heads: _Heads = network.heads

    def _conv(self, rows: Tensor, before: int, after: int) -> Tensor:
        c = self.channels
        out = rows[:, :, c : 2 * c] + self.bias
        out[:, 1:] += rows[:, :-1, before * c : (before + 1) * c]
        out[:, :-1] += rows[:, 1:, after * c : (after + 1) * c]
        return out

    def forward(self, ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        batch, steps = ids.shape
        t = torch.arange(steps, device=ids.device).unsqueeze(0)
        lengths = mask.sum(dim=1, keepdim=True)
        reversed_ids = ids.gather(1, torch.where(t < lengths, lengths - 1 - t, t))
        rows = nn.functional.embedding(torch.cat([ids, reversed_ids]), self.taps)
        keep = mask.unsqueeze(-1)  # (B, T, 1)
        # in the reversed message the tap before a token is the one after it originally
        x_f = torch.relu(self._conv(rows[:batch], 0, 2)) * keep
        x_b = torch.relu(self._conv(rows[batch:], 2, 0)) * keep
        h0 = x_f.new_zeros(1, batch, self.hidden)
        h_f = torch.lstm(x_f, (h0, h0), self.forward_params, True, 1, 0.0, False, False, True)[0]
        h_b = torch.lstm(x_b, (h0, h0), self.backward_params, True, 1, 0.0, False, False, True)[0]
        h = torch.cat([h_f, h_b], dim=-1).masked_fill(~keep, float("-inf"))
        # amax: the values of masked_max without the indices (an all-pad row gives 0)
        return self.heads.forward(torch.nan_to_num(h.amax(dim=1), neginf=0.0))


def for_inference(network: nn.Module) -> nn.Module:
    """The fastest network that scores like ``network`` (which must be in eval mode and
    is not changed): a :class:`FrozenCnnBiLSTM` for a CNN+BiLSTM, else itself."""
    if isinstance(network, CnnBiLSTM):
        return FrozenCnnBiLSTM(network).eval()
    return network


def build_network(cfg: NetworkConfig) -> nn.Module:
    if cfg.arch == "cnn":
        return TextCNN(cfg)
    if cfg.arch == "bilstm":
        return BiLSTM(cfg)
    if cfg.arch == "cnn_bilstm":
        return CnnBiLSTM(cfg)
    raise ValueError(f"unknown architecture {cfg.arch!r}; expected one of {', '.join(ARCHS)}")
