"""Loaders against the real files: row counts and label balance as DATA.md states them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from model import data
from model.data import Example, load_examples, summarize
from model.errors import DataNotFoundError
from model.normalize import normalize
from tests.conftest import DATA_DIR, needs_data

pytestmark = needs_data


@pytest.fixture(scope="module")
def examples() -> list[Example]:
    return load_examples(DATA_DIR)


def counts(rows: list[Example]) -> tuple[int, int]:
    return len(rows), sum(r.label for r in rows)


def test_raw_loaders_match_data_md() -> None:
    beep = list(data.load_beep(DATA_DIR, 13))
    assert counts([r for r in beep if r.split != "test"]) == (7_896, 1_911 + 2_499)
    assert counts([r for r in beep if r.split == "test"]) == (471, 122 + 189)
    assert counts(list(data.load_curse(DATA_DIR, 13))) == (5_825, 2_044)
    kmhas = list(data.load_kmhas(DATA_DIR, 13))
    assert counts([r for r in kmhas if r.split == "dev"]) == (8_776, 3_889)
    assert counts([r for r in kmhas if r.split == "train"]) == (21_939, 10_120)
    kmc = list(data.load_korean_malicious(DATA_DIR, 13))
    assert counts(kmc) == (9_975, 4_983)  # inverted labels: 0 = malicious
    off = Counter((r.split, r.label) for r in data.load_tweeteval(DATA_DIR, 13, "offensive"))
    assert (off["train", 1] + off["train", 0], off["train", 1]) == (11_916, 3_941)
    assert (off["dev", 1] + off["dev", 0], off["dev", 1]) == (1_324, 459)
    assert (off["test", 1] + off["test", 0], off["test", 1]) == (860, 240)
    hate = Counter((r.split, r.label) for r in data.load_tweeteval(DATA_DIR, 13, "hate"))
    assert (hate["train", 0] + hate["train", 1], hate["train", 1]) == (9_000 - 7, 3_783)
    assert (hate["test", 0] + hate["test", 1], hate["test", 1]) == (2_970, 1_252)
    davidson = Counter(r.categories for r in data.load_davidson(DATA_DIR, 13))
    assert davidson[frozenset({"hate"})] == 1_430 and davidson[frozenset()] == 4_163
    assert davidson[frozenset({"profanity"})] == 5_000  # subsampled from 19,190
    gametox = list(data.load_gametox(DATA_DIR, 13))
    assert counts(gametox) == (53_701, 53_704 - 3 - 43_497)


def test_official_test_splits_are_kept_whole(examples: list[Example]) -> None:
    s = summarize(examples)
    assert s["tweeteval_offensive"]["test"] == (860, 240)
    assert s["tweeteval_hate"]["test"] == (2_970, 1_252)
    assert s["beep"]["test"] == (471, 311)


def test_no_text_leaks_from_test_or_dev_into_train(examples: list[Example]) -> None:
    by_split: dict[str, set[str]] = {"train": set(), "dev": set(), "test": set()}
    for ex in examples:
        by_split[ex.split].add(normalize(ex.text))
    assert not by_split["train"] & by_split["test"]
    assert not by_split["train"] & by_split["dev"]
    assert not by_split["dev"] & by_split["test"]
    # korean_malicious_comments mostly repeats BEEP and Curse: few new rows remain
    kmc = [ex for ex in examples if ex.source == "korean_malicious"]
    assert 3_000 < len(kmc) < 4_000


def test_only_shippable_sets_by_default(examples: list[Example]) -> None:
    assert {ex.source for ex in examples} == set(data.SHIPPABLE)
    assert all(ex.lang in {"en", "ko"} and ex.label in {0, 1} for ex in examples)
    toxic_cats = Counter(c for ex in examples if ex.label for c in ex.categories)
    assert toxic_cats["hate"] > 1000 and toxic_cats["profanity"] > 1000


def test_splits_are_seeded_and_stable() -> None:
    a = load_examples(DATA_DIR, ["curse"], seed=13)
    b = load_examples(DATA_DIR, ["curse"], seed=13)
    c = load_examples(DATA_DIR, ["curse"], seed=14)
    assert a == b
    assert {e.text for e in a if e.split == "test"} != {e.text for e in c if e.split == "test"}


def test_language_filter_and_errors(tmp_path: Path) -> None:
    ko = load_examples(DATA_DIR, ["curse", "tweeteval_hate"], langs=["ko"])
    assert {e.source for e in ko} == {"curse"}
    with pytest.raises(DataNotFoundError, match="data dir not found"):
        load_examples(tmp_path / "nope")
    with pytest.raises(DataNotFoundError, match=r"beep_korean_hate_speech.*train\.tsv"):
        load_examples(tmp_path, ["beep"])
    with pytest.raises(DataNotFoundError, match="unknown data set"):
        load_examples(DATA_DIR, ["jigsaw"])


def test_new_loaders_match_their_source_files() -> None:
    """Counts as each set's SOURCE.txt states them (before deduplication)."""

    def by_split(rows: list[Example]) -> dict[str, tuple[int, int]]:
        return {s: counts([r for r in rows if r.split == s]) for s in ("train", "dev", "test")}

    convabuse = by_split(list(data.load_convabuse(DATA_DIR, 13)))
    # ties (83 / 31 / 33) are dropped; majority abusive 331 / 108 / 123
    assert convabuse == {"train": (2_418, 331), "dev": (800, 108), "test": (820, 123)}
    toxichat = list(data.load_toxichat(DATA_DIR, 13))
    assert counts(toxichat) == (4_623, 1_336)
    hatemoji = by_split(list(data.load_hatemoji(DATA_DIR, 13)))
    assert hatemoji == {"train": (4_728, 2_387), "dev": (591, 270), "test": (593, 308)}
    stormfront = list(data.load_stormfront(DATA_DIR, 13))
    assert counts(stormfront) == (9_507 + 1_196, 1_196)
    assert counts([r for r in stormfront if r.split == "test"]) == (478, 239)
    assert counts(list(data.load_sbic(DATA_DIR, 13))) == (4_673, 2_564)
    assert counts(list(data.load_toxigen_seeds(DATA_DIR, 13))) == (668, 371)
    assert counts(list(data.load_kosbi(DATA_DIR, 13))) == (6_844, 1_718 + 1_667)
    botez = by_split(list(data.load_botezlive(DATA_DIR, 13)))
    assert botez["test"] == (199, 99)
    assert botez["train"][0] + botez["dev"][0] == 2_000
