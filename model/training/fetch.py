"""``chatwarden data fetch``: download the public labeled sets that a shipped model may be
trained on, from their original sources, into the data dir, with checksums.

Only sets whose licence allows shipping a model trained on them are listed; every file is
pinned to the upstream commit recorded in the data dir's ``DATA.md`` and verified with
SHA-256. A file whose checksum does not match is deleted and reported; nothing partial is
left behind. Files already present with the right checksum are not downloaded again.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SOURCES", "DataSource", "FetchError", "FetchResult", "fetch"]

#: Where the files come from; ``{repo}``, ``{commit}`` and ``{path}`` are filled in.
GITHUB_RAW = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"


class FetchError(RuntimeError):
    """A download failed or did not match its checksum."""


@dataclass(frozen=True, slots=True)
class DataSource:
    name: str
    repo: str
    commit: str
    licence: str
    attribution: str
    files: tuple[tuple[str, str, str], ...]  # (upstream path, local path, sha256)


SOURCES: tuple[DataSource, ...] = (
    DataSource(
        "beep",
        "kocohub/korean-hate-speech",
        "f8d05dce2b22007bb149e5139c0060c68ad8f94b",
        "CC BY-SA 4.0",
        "Moon, Cho, Lee (2020). BEEP! Korean Corpus of Online News Comments for Toxic Speech "
        "Detection. SocialNLP.",
        (
            (
                "labeled/train.tsv",
                "beep_korean_hate_speech/labeled/train.tsv",
                "ebebacdcd023af2c4acc8c0a37695fb6433ac04fc009feff8f222724e303a5a9",
            ),
            (
                "labeled/dev.tsv",
                "beep_korean_hate_speech/labeled/dev.tsv",
                "232b615d6e359a9d31dfb8370f32e1733dc5bb3f9c5430d34d7fcc7ba4b7e8ef",
            ),
            (
                "LICENSE.md",
                "beep_korean_hate_speech/LICENSE.md",
                "87a816969906840bf7af8d4d01cdfad4741b18946365e1f286007935509f2edb",
            ),
        ),
    ),
    DataSource(
        "curse",
        "2runo/Curse-detection-data",
        "ff241621e103b6f220d30de324d0d07987887308",
        "MIT",
        "2runo, Curse-detection-data.",
        (
            (
                "dataset.txt",
                "curse_detection_ko/dataset.txt",
                "1c3489417e4972dbbbdde19cc47bb8638292891f7f1a443ecbdc2e3c6843545a",
            ),
            (
                "LICENSE",
                "curse_detection_ko/LICENSE",
                "5cb5b18cc855e245f8e299b931a1203479a56fd79a752b102d623056ba5d7c2c",
            ),
        ),
    ),
    DataSource(
        "kmhas",
        "adlnlp/K-MHaS",
        "ec7a7e775d650b825872f6f538fc717822cdfc1a",
        "CC BY-SA 4.0 (per the authors' Hugging Face card)",
        "Lee, Lim, Lee, Kim (2022). K-MHaS: A Multi-label Hate Speech Detection Dataset in "
        "Korean Online News Comment. COLING.",
        (
            (
                "data/kmhas_valid.txt",
                "kmhas/data/kmhas_valid.txt",
                "cb0df9e3cd665125b554d4c5e6f48b0801d5535ead51269134de5b85ae469c18",
            ),
            (
                "data/kmhas_test.txt",
                "kmhas/data/kmhas_test.txt",
                "9eaf470ee12c445817301d58672349500d6759516a730e879d36d6de17a2051a",
            ),
        ),
    ),
    DataSource(
        "korean_malicious",
        "ZIZUN/korean-malicious-comments-dataset",
        "50b92f50e89bb594db5c9ecafea8d48c1dd5b943",
        "MIT (re-distributes BEEP rows: CC BY-SA)",
        "ZIZUN, korean-malicious-comments-dataset.",
        (
            (
                "Dataset.csv",
                "korean_malicious_comments/Dataset.csv",
                "8fee1801737cd9d1d3bd38eab7ba6b9ba1d8b91b566f49d980c112dcf778be04",
            ),
        ),
    ),
    DataSource(
        "tweeteval",
        "cardiffnlp/tweeteval",
        "4fbd22cd78421f05b1ecdb4fc5725bc7a7bd8f66",
        "released without restrictions (restrictions may apply to individual tasks)",
        "Barbieri et al. (2020). TweetEval. Findings of EMNLP; OffensEval (Zampieri et al. "
        "2019); HatEval (Basile et al. 2019).",
        tuple(
            (f"datasets/{task}/{name}", f"tweeteval/datasets/{task}/{name}", digest)
            for task, name, digest in (
                (
                    "offensive",
                    "train_text.txt",
                    "78a7a32e38b10af7d8970b008bf17f661c8d0a90dad145fa0fa6a944669650db",
                ),
                (
                    "offensive",
                    "train_labels.txt",
                    "c0b7d6ebdaa4ebcf6fc557ef1e775d92eda160218a0e3b1dd48eb8234dc892a6",
                ),
                (
                    "offensive",
                    "val_text.txt",
                    "816f36d180c35f15a5104838cb73856a0bef42043482fe738f3481b06242a55c",
                ),
                (
                    "offensive",
                    "val_labels.txt",
                    "ed2deb776bd1c52fb8221fadd3360e32d9dfe46842d78053528126e46363a258",
                ),
                (
                    "offensive",
                    "test_text.txt",
                    "25b08c3333c26190f1023961c4508ec9aab24d4722b1a3ea7a6040724c120547",
                ),
                (
                    "offensive",
                    "test_labels.txt",
                    "41d05a7aa0b01f5dafab21b95adb4f979cb4226c046ff315702774d10dac1605",
                ),
                (
                    "hate",
                    "train_text.txt",
                    "6572bb3a42143128a5dfa99af8debeb0668e637c34b2d1e3140dac47316fe2c2",
                ),
                (
                    "hate",
                    "train_labels.txt",
                    "4e8fde025a453a25c94632794254131dedeac4e57228ad64157c41571cc88f71",
                ),
                (
                    "hate",
                    "val_text.txt",
                    "1ff78b1ed4c5ce43284b9eba32eb7d60c6d45d0d1b3b4d6df456ae01640764f1",
                ),
                (
                    "hate",
                    "val_labels.txt",
                    "5092badf1a0e70036ea6264bcd0b78afc07d0f4a512fa6af34c2c4973600656b",
                ),
                (
                    "hate",
                    "test_text.txt",
                    "bc4762876a8dd8baa55c3cd7b03108e3231a5d691e80b8b1ef97c5be31b9da9a",
                ),
                (
                    "hate",
                    "test_labels.txt",
                    "c14adca6b3627616a835c5ccea8a1cceb0235cd79417257f093eb0e16a69c62f",
                ),
            )
        ),
    ),
    DataSource(
        "davidson",
        "t-davidson/hate-speech-and-offensive-language",
        "cb50f7e9eb855a99abc51423bf40df0e26d6fe30",
        "MIT",
        "Davidson, Warmsley, Macy, Weber (2017). Automated Hate Speech Detection and the "
        "Problem of Offensive Language. ICWSM.",
        (
            (
                "data/labeled_data.csv",
                "davidson_hate_offensive/data/labeled_data.csv",
                "fcb8bc7c68120ae4af04a5b9acd58585513ede11e1548ebf36a5c2040b6f6281",
            ),
        ),
    ),
    DataSource(
        "wordlists",
        "LDNOOBW/List-of-Dirty-Naughty-Obscene-and-Otherwise-Bad-Words",
        "5faf2ba42d7b1c0977169ec3611df25a3c08eb13",
        "CC BY 4.0",
        "Shutterstock, List of Dirty, Naughty, Obscene, and Otherwise Bad Words.",
        (
            (
                "en",
                "wordlists/ldnoobw/en",
                "af851ecef1d5f212caba17339b12ac39cc2fef7d78c74876f67237644fcee8bd",
            ),
            (
                "ko",
                "wordlists/ldnoobw/ko",
                "0dd4b74ffea6e3bb35d658e6d8262b53ee99281eaa48ecb515a2065bfcc7f69d",
            ),
        ),
    ),
    DataSource(
        "surge_profanity",
        "surge-ai/profanity",
        "77dabf36454fd9b0f85c777c2808d416bc41f797",
        "MIT",
        "Surge AI, The Obscenity List.",
        (
            (
                "profanity_en.csv",
                "wordlists/surge_ai_profanity/profanity_en.csv",
                "45214f1e4522a1c36cee7efa94440fce4188871db105abeb93d9dfe8c66feb6a",
            ),
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class FetchResult:
    source: str
    path: Path
    status: str  # "downloaded" | "present" | "failed"
    detail: str = ""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(
    data_dir: Path,
    names: list[str] | None = None,
    *,
    url_template: str = GITHUB_RAW,
    timeout: float = 60.0,
    on_file: Callable[[FetchResult], None] | None = None,
) -> list[FetchResult]:
    """Download the chosen sources (all when ``names`` is empty) into ``data_dir``."""
    known = {s.name: s for s in SOURCES}
    unknown = [n for n in names or [] if n not in known]
    if unknown:
        raise FetchError(f"unknown data set(s) {unknown}; known: {', '.join(known)}")
    chosen = [known[n] for n in names] if names else list(SOURCES)
    results: list[FetchResult] = []
    for source in chosen:
        for upstream, local, digest in source.files:
            target = data_dir / local
            result = _fetch_one(source, upstream, target, digest, url_template, timeout)
            results.append(result)
            if on_file is not None:
                on_file(result)
    return results


def _fetch_one(
    source: DataSource, upstream: str, target: Path, digest: str, template: str, timeout: float
) -> FetchResult:
    if target.is_file() and _sha256(target) == digest:
        return FetchResult(source.name, target, "present")
    url = template.format(repo=source.repo, commit=source.commit, path=upstream)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    hasher = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, part.open("wb") as out:
            for block in iter(lambda: response.read(1 << 16), b""):
                hasher.update(block)
                out.write(block)
    except (urllib.error.URLError, OSError) as exc:
        part.unlink(missing_ok=True)
        return FetchResult(source.name, target, "failed", f"download failed: {exc}")
    if hasher.hexdigest() != digest:
        part.unlink(missing_ok=True)
        return FetchResult(
            source.name,
            target,
            "failed",
            f"checksum mismatch (expected {digest[:12]}…, got {hasher.hexdigest()[:12]}…); "
            "the partial file was deleted",
        )
    part.replace(target)
    return FetchResult(source.name, target, "downloaded")
