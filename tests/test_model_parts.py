"""Augmentation, metrics, networks and bundles: properties that must hold for any model."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from model.augment import PERTURBATIONS, adversarial, perturb
from model.bundle import Bundle, load_bundle, save_bundle
from model.errors import ModelLoadError
from model.evaluation.metrics import average_precision, best_threshold, binary_metrics
from model.networks import ARCHS, NetworkConfig, build_network, for_inference
from model.neural import TorchScorer, language_of, rescale
from model.normalize import normalize, skeleton
from model.tokenizer import train_tokenizer


def test_each_perturbation_changes_a_word_the_way_evaders_do() -> None:
    rng = random.Random(1)
    assert PERTURBATIONS["space"]("fuck", rng) == "f u c k"
    punct = PERTURBATIONS["punct"]("fuck", rng)
    assert len(punct) == 5 and skeleton(punct) == "fuck"
    leet = PERTURBATIONS["leet"]("shit", rng)
    assert leet != "shit" and skeleton(leet) == "shit"
    glyph = PERTURBATIONS["homoglyph"]("fuck", rng)
    assert glyph != "fuck" and normalize(glyph) == "fuck"  # serving folds it back
    assert PERTURBATIONS["jamo"]("발", rng) == "ㅂㅏㄹ"
    assert PERTURBATIONS["jamo"]("시", rng) == "ㅅㅣ"


@given(st.integers(0, 2**16))
def test_new_evasions_split_double_and_respell_words(seed: int) -> None:
    rng = random.Random(seed)
    split = PERTURBATIONS["split"]("nigger", rng)
    assert split.count(" ") == 1 and split.replace(" ", "") == "nigger"
    chunks = PERTURBATIONS["chunks"]("niggers", rng)
    assert chunks.replace(" ", "") == "niggers"
    assert all(1 <= len(piece) <= 3 for piece in chunks.split(" "))
    double = PERTURBATIONS["double"]("nigger", rng)
    assert 7 <= len(double) <= 8 and skeleton(double) == skeleton("nigger")
    look = PERTURBATIONS["lookalike"]("nigga", rng)
    assert look != "nigga" and look in {"nijja", "niqqa", "nijga", "nygga", "niggah"}
    assert PERTURBATIONS["lookalike"]("hmm", rng) == "hmm"  # nothing that reads the same


def test_adversarial_sets_keep_their_original_kinds() -> None:
    # the texts the adversarial figures were measured on before split, chunks, double and
    # lookalike existed: new training perturbations do not change them
    texts = ["you are a stupid idiot", "go away you little bitch", "fuck off", "what a nice game"]
    assert adversarial(texts) == [
        "you are a stupid idi07",
        "go @w@y you l'ittle bitch",
        "fцck оff",
        "what a n*ice ga_me",
    ]


@given(st.text(max_size=80), st.integers(0, 2**16))
def test_perturb_is_total(text: str, seed: int) -> None:
    assert isinstance(perturb(text, random.Random(seed)), str)


def test_adversarial_set_is_reproducible_and_perturbs() -> None:
    texts = ["you are a stupid idiot", "시발 진짜 개새끼네", "fuck off"]
    a, b = adversarial(texts), adversarial(texts)
    assert a == b
    assert all(x != y for x, y in zip(a, texts, strict=True))


def test_metrics_known_values() -> None:
    labels = [1, 1, 0, 0, 1, 0]
    probs = [0.9, 0.4, 0.6, 0.1, 0.8, 0.2]
    m = binary_metrics(labels, probs, 0.5)
    assert (m.tp, m.fp, m.fn, m.tn) == (2, 1, 1, 2)
    assert m.f1 == pytest.approx(2 / 3) and m.accuracy == pytest.approx(4 / 6)
    t, f1 = best_threshold(labels, probs)
    assert f1 == pytest.approx(binary_metrics(labels, probs, t).f1) and f1 >= m.f1
    assert average_precision([1, 0], [0.9, 0.1]) == 1.0


def test_rescale_maps_threshold_to_half() -> None:
    assert rescale(0.3, 0.3) == 0.5
    assert rescale(0.0, 0.3) == 0.0 and rescale(1.0, 0.3) == 1.0
    assert rescale(0.2, 0.3) < 0.5 < rescale(0.31, 0.3)
    assert language_of("ㅅㅂ") == "ko" and language_of("lol") == "en"


@pytest.mark.parametrize("arch", ARCHS)
def test_networks_shapes_and_padding_invariance(arch: str) -> None:
    torch.manual_seed(0)
    net = build_network(NetworkConfig(arch, vocab_size=50, emb_dim=16, channels=8, hidden=8))
    net.eval()
    ids = torch.tensor([[5, 6, 7, 0, 0, 0], [8, 9, 10, 11, 12, 13], [0, 0, 0, 0, 0, 0]])
    mask = ids != 0
    logit, cats = net(ids, mask)
    assert logit.shape == (3,) and cats.shape == (3, 5)
    assert torch.isfinite(logit).all()  # an all-padding row does not produce NaN
    alone, _ = net(ids[:1, :3], mask[:1, :3])
    assert torch.allclose(alone, logit[:1], atol=1e-5)  # padding never changes a score


@pytest.mark.parametrize("arch", ARCHS)
def test_inference_fast_lstm_path_matches_the_packed_training_path(arch: str) -> None:
    """Inference runs the BiLSTM on padded, length-reversed input (model/networks.py);
    it must give the packed path's numbers: the fast path changes no decision."""
    torch.manual_seed(1)
    net = build_network(NetworkConfig(arch, vocab_size=300, emb_dim=24, channels=16, hidden=12))
    net.eval()
    lengths = torch.tensor([1, 7, 19, 19, 3, 0, 12, 2])
    ids = torch.randint(1, 300, (len(lengths), 19))
    ids[torch.arange(19).unsqueeze(0) >= lengths.unsqueeze(1)] = 0
    mask = ids != 0
    packed_logit, packed_cats = net(ids, mask)  # grad enabled: the training path
    with torch.inference_mode():
        fast_logit, fast_cats = net(ids, mask)
        # the scorer's network: for a CNN+BiLSTM its precomputed twin
        frozen = for_inference(net)
        twin_logit, twin_cats = frozen(ids, mask)
    assert (frozen is not net) == (arch == "cnn_bilstm")
    assert torch.allclose(packed_logit, fast_logit, atol=1e-5)
    assert torch.allclose(packed_cats, fast_cats, atol=1e-5)
    assert torch.allclose(packed_logit, twin_logit, atol=1e-5)
    assert torch.allclose(packed_cats, twin_cats, atol=1e-5)
    assert not torch.equal(packed_logit[1], packed_logit[2])  # the rows really differ


def test_unknown_arch() -> None:
    with pytest.raises(ValueError, match="unknown architecture"):
        build_network(NetworkConfig("transformer", vocab_size=10))


@pytest.fixture(scope="module")
def tiny_bundle() -> Bundle:
    torch.manual_seed(0)
    texts = [
        normalize(t)
        for t in [
            "hello there friend",
            "you are an idiot",
            "시발 진짜",
            "gg well played",
            "안녕하세요 반가워요",
        ]
        * 20
    ]
    tokenizer = train_tokenizer(texts, vocab_size=200, min_frequency=1)
    cfg = NetworkConfig("cnn_bilstm", tokenizer.get_vocab_size(), emb_dim=16, channels=8, hidden=8)
    net = build_network(cfg)
    net.eval()
    return Bundle(net, cfg, tokenizer, {"en": 0.4, "ko": 0.6}, 64, "tiny-1")


def test_bundle_round_trip_scores_the_same(tmp_path: Path, tiny_bundle: Bundle) -> None:
    texts = ["you are an idiot", "시발 진짜", "", "   ", "😀" * 500, "\x00\ud800", "x" * 5000]
    before = TorchScorer(tiny_bundle).score(texts)
    folder = save_bundle(tiny_bundle, tmp_path / "m")
    loaded = load_bundle(folder)
    after = TorchScorer(loaded).score(texts)
    assert [s.probability for s in after] == pytest.approx([s.probability for s in before])
    assert after[2].probability == 0.0 and after[3].probability == 0.0  # empty: nothing to flag
    assert loaded.version == "tiny-1" and loaded.thresholds == {"en": 0.4, "ko": 0.6}
    half = load_bundle(save_bundle(tiny_bundle, tmp_path / "half", half=True))
    fp16 = TorchScorer(half).score(texts)
    assert [s.probability for s in fp16] == pytest.approx([s.probability for s in before], abs=2e-2)


def test_broken_bundles_fail_at_load_with_the_reason(tmp_path: Path, tiny_bundle: Bundle) -> None:
    good = save_bundle(tiny_bundle, tmp_path / "good")
    with pytest.raises(ModelLoadError, match="no model folder"):
        load_bundle(tmp_path / "absent")
    missing = save_bundle(tiny_bundle, tmp_path / "missing")
    (missing / "weights.pt").unlink()
    with pytest.raises(ModelLoadError, match=r"weights\.pt is missing"):
        load_bundle(missing)
    corrupt = save_bundle(tiny_bundle, tmp_path / "corrupt")
    (corrupt / "weights.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelLoadError, match="cannot read the weights"):
        load_bundle(corrupt)
    mismatched = save_bundle(tiny_bundle, tmp_path / "mismatched")
    meta = json.loads((mismatched / "config.json").read_text())
    meta["network"]["hidden"] = 32
    (mismatched / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="do not fit its config"):
        load_bundle(mismatched)
    other_vocab = save_bundle(tiny_bundle, tmp_path / "vocab")
    meta = json.loads((other_vocab / "config.json").read_text())
    meta["network"]["vocab_size"] += 1
    (other_vocab / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="do not belong together"):
        load_bundle(other_vocab)
    (good / "config.json").write_text("{")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load_bundle(good)
