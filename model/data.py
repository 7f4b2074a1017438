"""Labeled data: one loader per set of the data dir, the binary mapping of ``DATA.md``,
cross-set deduplication and seeded, documented splits.

Every example carries ``label`` (1 = toxic: profane, insulting, harassing, sexual
harassment, threatening or hateful), finer ``categories`` where the set has them
(``profanity``, ``insult``, ``hate``, ``sexual``, ``threat``), its language, its source and
its split.

Splits
------
* Official test splits are used where they exist: TweetEval offensive (= OLID test) and
  hate. BEEP's test labels are hidden, so BEEP **dev** (471) is our BEEP test set.
* Curse-detection has no splits: a seeded 10 % hold-out is its test set.
* Everything else is train; dev is a seeded 10 % of train per set, except where a set has
  an official dev (TweetEval val, K-MHaS valid).
* The hold-outs are chosen by a hash of the normalised text and the seed, so they do not
  depend on file order and a text always lands in the same split.

Deduplication
-------------
Texts are compared after :func:`model.normalize.normalize`. A text in any test split is
removed from every dev and train split, a text in a dev split from every train split, and
repeats within a split are kept once (``korean_malicious_comments`` repeats ~6.5k BEEP and
Curse rows; TweetEval hate repeats 238 train texts in val/test; K-MHaS valid/test share
42). ``tweeteval/offensive`` and ``olid`` are the same tweets: TweetEval gives the splits,
OLID's level B/C labels give the categories.

Licences
--------
:data:`SHIPPABLE` are the sets a released model may be trained on. GameTox states no
licence: it loads only when asked for (``research=True``), for experiments.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from model.errors import DataNotFoundError
from model.normalize import normalize

__all__ = [
    "RESEARCH_ONLY",
    "SHIPPABLE",
    "Example",
    "load_examples",
    "summarize",
]

SHIPPABLE = (
    "beep",
    "curse",
    "kmhas",
    "korean_malicious",
    "tweeteval_offensive",
    "tweeteval_hate",
    "davidson",
)
RESEARCH_ONLY = ("gametox",)
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: int
    lang: str
    source: str
    split: str
    categories: frozenset[str] = frozenset()
    #: a teacher model's toxic probability for this text, if one was asked
    #: (:func:`model.training.teacher.with_teacher`); training mixes it into the target
    teacher: float | None = None


def _hash_fraction(key: str, seed: int, salt: str) -> float:
    digest = hashlib.blake2b(f"{seed}\x1f{salt}\x1f{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _holdout(text: str, seed: int, salt: str, fraction: float = 0.1) -> bool:
    return _hash_fraction(normalize(text), seed, salt) < fraction


def _need(path: Path) -> Path:
    if not path.exists():
        raise DataNotFoundError(
            f"data set file missing: {path} (expected the data dir layout of DATA.md; set "
            "CHATWARDEN_DATA_DIR to the folder holding it)"
        )
    return path


def _read_lines(path: Path) -> list[str]:
    return _need(path).read_text(encoding="utf-8").splitlines()


# -- Korean -------------------------------------------------------------------------------


def load_beep(root: Path, seed: int) -> Iterator[Example]:
    base = root / "beep_korean_hate_speech" / "labeled"
    for name in ("train", "dev"):
        with _need(base / f"{name}.tsv").open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
                hate, bias = row["hate"], row["bias"]
                cats: set[str] = set()
                if hate == "offensive":
                    cats.add("insult")
                elif hate == "hate":
                    cats.add("hate" if bias != "none" else "insult")
                if hate != "none" and bias in {"gender", "others"}:
                    cats.add("hate")
                if name == "dev":
                    split = "test"  # BEEP's own test labels are hidden
                else:
                    split = "dev" if _holdout(row["comments"], seed, "beep") else "train"
                yield Example(
                    row["comments"], int(hate != "none"), "ko", "beep", split, frozenset(cats)
                )


def load_curse(root: Path, seed: int) -> Iterator[Example]:
    for line in _read_lines(root / "curse_detection_ko" / "dataset.txt"):
        text, sep, label = line.rpartition("|")
        if not sep or label.strip() not in {"0", "1"}:
            continue
        fraction = _hash_fraction(normalize(text), seed, "curse")
        split = "test" if fraction < 0.1 else "dev" if fraction < 0.2 else "train"
        toxic = int(label.strip())
        yield Example(
            text.strip(),
            toxic,
            "ko",
            "curse",
            split,
            frozenset({"profanity"}) if toxic else frozenset(),
        )


_KMHAS_HATE = {"0", "1", "2", "4", "5", "6", "7"}


def load_kmhas(root: Path, seed: int) -> Iterator[Example]:
    # The train file is missing here (DATA.md): train on `test`, use `valid` as dev.
    base = root / "kmhas" / "data"
    for name, split in (("kmhas_test.txt", "train"), ("kmhas_valid.txt", "dev")):
        with _need(base / name).open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle, delimiter="\t")
            next(reader, None)
            for row in reader:
                if len(row) < 2:
                    continue
                labels = set(row[1].split(","))
                cats: set[str] = set()
                if "3" in labels:
                    cats.add("profanity")
                if labels & _KMHAS_HATE:
                    cats.add("hate")
                yield Example(row[0], int(labels != {"8"}), "ko", "kmhas", split, frozenset(cats))


def load_korean_malicious(root: Path, seed: int) -> Iterator[Example]:
    path = _need(root / "korean_malicious_comments" / "Dataset.csv")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader, None)
        for row in reader:
            if len(row) < 2 or row[1].strip() not in {"0", "1"}:
                continue  # 25 rows have no label
            toxic = int(row[1].strip() == "0")  # inverted: 0 = malicious
            split = "dev" if _holdout(row[0], seed, "kmc") else "train"
            yield Example(
                row[0],
                toxic,
                "ko",
                "korean_malicious",
                split,
                frozenset({"insult"}) if toxic else frozenset(),
            )


# -- English ------------------------------------------------------------------------------


def _olid_categories(root: Path) -> dict[str, frozenset[str]]:
    """OLID level B/C labels by normalised tweet (they are TweetEval offensive's tweets)."""
    out: dict[str, frozenset[str]] = {}
    path = root / "olid" / "olid-training-v1.0.tsv"
    if not path.exists():
        return out
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            if row["subtask_a"] != "OFF":
                continue
            b, c = row["subtask_b"], row["subtask_c"]
            cats = {"profanity"} if b == "UNT" else {"hate"} if c == "GRP" else {"insult"}
            out[normalize(row["tweet"])] = frozenset(cats)
    return out


def load_tweeteval(root: Path, seed: int, task: str) -> Iterator[Example]:
    base = root / "tweeteval" / "datasets" / task
    olid = _olid_categories(root) if task == "offensive" else {}
    default = frozenset({"insult"}) if task == "offensive" else frozenset({"hate"})
    for name, split in (("train", "train"), ("val", "dev"), ("test", "test")):
        texts = _read_lines(base / f"{name}_text.txt")
        labels = _read_lines(base / f"{name}_labels.txt")
        if len(texts) != len(labels):
            raise DataNotFoundError(f"{base}/{name}: {len(texts)} texts but {len(labels)} labels")
        for text, label in zip(texts, labels, strict=True):
            if not text.strip():
                continue  # 8 empty lines in hate
            toxic = int(label.strip() == "1")
            cats = olid.get(normalize(text), default) if toxic else frozenset()
            yield Example(text, toxic, "en", f"tweeteval_{task}", split, cats)


def load_davidson(root: Path, seed: int, offensive_cap: int = 5000) -> Iterator[Example]:
    """Davidson et al.: 77 % "offensive" by design; that class is subsampled (seeded)."""
    path = _need(root / "davidson_hate_offensive" / "data" / "labeled_data.csv")
    rows: list[tuple[str, int]] = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            rows.append((html.unescape(row["tweet"]), int(row["class"])))
    offensive = [i for i, (_, cls) in enumerate(rows) if cls == 1]
    keep_offensive = set(random.Random(seed).sample(offensive, min(offensive_cap, len(offensive))))
    for i, (text, cls) in enumerate(rows):
        if cls == 1 and i not in keep_offensive:
            continue
        cats = {0: frozenset({"hate"}), 1: frozenset({"profanity"})}.get(cls, frozenset())
        split = "dev" if _holdout(text, seed, "davidson") else "train"
        yield Example(text, int(cls in {0, 1}), "en", "davidson", split, cats)


_GAMETOX_CATS = {1: "insult", 2: "profanity", 3: "hate", 4: "threat", 5: "hate"}


def load_gametox(root: Path, seed: int) -> Iterator[Example]:
    """Research only (no licence stated)."""
    path = _need(root / "gametox" / "gametox.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                label = int(float(row["label"]))
            except ValueError:
                continue
            fraction = _hash_fraction(normalize(row["message"]), seed, "gametox")
            split = "test" if fraction < 0.1 else "dev" if fraction < 0.2 else "train"
            cats = frozenset({_GAMETOX_CATS[label]}) if label in _GAMETOX_CATS else frozenset()
            yield Example(row["message"], int(label >= 1), "en", "gametox", split, cats)


_LOADERS = {
    "beep": load_beep,
    "curse": load_curse,
    "kmhas": load_kmhas,
    "korean_malicious": load_korean_malicious,
    "tweeteval_offensive": lambda root, seed: load_tweeteval(root, seed, "offensive"),
    "tweeteval_hate": lambda root, seed: load_tweeteval(root, seed, "hate"),
    "davidson": load_davidson,
    "gametox": load_gametox,
}


def load_examples(
    data_dir: Path,
    sources: Sequence[str] | None = None,
    *,
    langs: Iterable[str] = ("en", "ko"),
    seed: int = 13,
    research: bool = False,
) -> list[Example]:
    """Load, map, split and deduplicate the labeled sets (see the module docstring)."""
    root = Path(data_dir)
    if not root.is_dir():
        raise DataNotFoundError(f"data dir not found: {root} (set CHATWARDEN_DATA_DIR)")
    names = list(sources) if sources else [*SHIPPABLE, *(RESEARCH_ONLY if research else ())]
    unknown = [n for n in names if n not in _LOADERS]
    if unknown:
        raise DataNotFoundError(f"unknown data set(s) {unknown}; known: {sorted(_LOADERS)}")
    wanted_langs = set(langs)
    raw = [ex for name in names for ex in _LOADERS[name](root, seed) if ex.lang in wanted_langs]
    return deduplicate(raw)


# -- the moderators' own labels (chatwarden labels export) --------------------------------

_HANGUL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")
CATEGORIES = ("profanity", "insult", "hate", "sexual", "threat")


def write_labelled(path: Path, rows: Iterable[tuple[str, int, str | None]]) -> int:
    """Write ``(text, label, category)`` rows: JSON lines for a ``.jsonl`` path, else TSV
    with a ``text, label, category`` header (tabs and line breaks in text become spaces).
    Returns the rows written."""
    written = 0
    with Path(path).open("w", encoding="utf-8", newline="") as out:
        if path.suffix != ".jsonl":
            out.write("text\tlabel\tcategory\n")
        for text, label, category in rows:
            if path.suffix == ".jsonl":
                row = {"text": text, "label": label, "category": category}
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            else:
                flat = " ".join(text.split())
                out.write(f"{flat}\t{label}\t{category or ''}\n")
            written += 1
    return written


def load_labelled(path: Path, source: str = "own_labels") -> list[Example]:
    """A labelled set as :func:`write_labelled` writes it (TSV with a header, or JSON lines
    with ``text`` and ``label``), as train examples; the language is read from the script
    (Hangul: ko, else en), a ``category`` among :data:`CATEGORIES` is kept."""
    lines = _read_lines(Path(path))
    examples: list[Example] = []
    jsonl = Path(path).suffix == ".jsonl"
    rows = lines if jsonl else lines[1:]
    if not jsonl and (not lines or lines[0].split("\t")[:2] != ["text", "label"]):
        raise DataNotFoundError(f"{path}: expected a header line 'text<TAB>label[<TAB>category]'")
    for number, line in enumerate(rows, 1 if jsonl else 2):
        if not line.strip():
            continue
        try:
            if jsonl:
                item = json.loads(line)
                text, label, category = item["text"], item["label"], item.get("category")
            else:
                parts = line.split("\t")
                text, label = parts[0], parts[1]
                category = parts[2] if len(parts) > 2 else None
            value = int(label)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise DataNotFoundError(f"{path}:{number}: not a labelled row ({exc})") from None
        if value not in (0, 1) or not isinstance(text, str):
            raise DataNotFoundError(f"{path}:{number}: the label must be 0 or 1")
        lang = "ko" if _HANGUL.search(text) else "en"
        cats = frozenset({category}) if value and category in CATEGORIES else frozenset()
        examples.append(Example(text.strip(), value, lang, source, "train", cats))
    return examples


def _key(text: str) -> str:
    return re.sub(r"\s+", " ", normalize(text))


def deduplicate(examples: Iterable[Example]) -> list[Example]:
    """Drop empty texts; a text keeps only its highest-priority split (test > dev > train),
    once per train or dev split. Test splits are kept as published."""
    keyed = [(k, ex) for ex in examples if (k := _key(ex.text))]
    rank = {"test": 0, "dev": 1, "train": 2}
    best: dict[str, int] = {}
    for key, ex in keyed:
        best[key] = min(best.get(key, 3), rank[ex.split])
    out: list[Example] = []
    taken: set[tuple[str, str]] = set()
    for key, ex in keyed:
        if rank[ex.split] != best[key]:
            continue
        if ex.split != "test":  # test sets are used as published, repeats included
            if (key, ex.split) in taken:
                continue
            taken.add((key, ex.split))
        out.append(ex if ex.text == ex.text.strip() else replace(ex, text=ex.text.strip()))
    return out


def summarize(examples: Iterable[Example]) -> dict[str, dict[str, tuple[int, int]]]:
    """``{source: {split: (rows, toxic)}}``."""
    counts: Counter[tuple[str, str]] = Counter()
    toxic: Counter[tuple[str, str]] = Counter()
    for ex in examples:
        counts[(ex.source, ex.split)] += 1
        toxic[(ex.source, ex.split)] += ex.label
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for (source, split), n in sorted(counts.items()):
        out.setdefault(source, {})[split] = (n, toxic[(source, split)])
    return out
