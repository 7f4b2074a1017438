"""WordPiece tokenizer (HF ``tokenizers``) trained on normalised training text plus real chat.

Texts are normalised by :func:`model.normalize.normalize` *before* they reach the
tokenizer, in training and in serving alike, so the tokenizer itself has no normaliser;
its pre-tokenizer splits on whitespace and punctuation (BERT style), which turns
punctuation hidden inside words (``f.u.c.k``) into separate pieces the model learns to see
through. Hangul compatibility jamo (``ㅅㅂ``) are ordinary characters here.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from model.errors import ModelLoadError

__all__ = ["PAD", "SPECIALS", "UNK", "load_tokenizer", "train_tokenizer"]

PAD, UNK = "[PAD]", "[UNK]"
SPECIALS = [PAD, UNK]


def train_tokenizer(
    texts: Iterable[str], vocab_size: int = 24_000, min_frequency: int = 2
) -> Tokenizer:
    """Train WordPiece on already-normalised texts."""
    tokenizer = Tokenizer(models.WordPiece(unk_token=UNK, max_input_chars_per_word=50))
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIALS,
        limit_alphabet=4000,  # Hangul syllables and jamo need a large alphabet
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    if tokenizer.token_to_id(PAD) != 0:
        raise AssertionError("[PAD] must be id 0 (the networks' padding index)")
    return tokenizer


def load_tokenizer(path: Path) -> Tokenizer:
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
        raise ModelLoadError(f"cannot load the tokenizer {path}: {exc}") from exc
    if tokenizer.token_to_id(PAD) != 0:
        raise ModelLoadError(f"tokenizer {path} has no [PAD] at id 0: not a chatwarden tokenizer")
    return tokenizer
