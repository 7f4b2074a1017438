"""Lexicons as data: plain files with a reason per entry, and a version that follows them."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bot.policy.version import policy_digest
from model.errors import DataNotFoundError
from model.rules import RuleScorer
from model.wordlists import LEXICON_DIR, SOURCES_DIR, Lexicon, entries_of, packaged_files
from tests.conftest import ROOT


def test_entries_are_words_and_comments_are_reasons() -> None:
    text = '# heading\n\nhell  # mild\nracial / ethnic slurs\n  kk  # "ok" (not KKK)\n'
    assert entries_of(text) == ("hell", "racial / ethnic slurs", "kk")


def test_every_packaged_list_is_there_with_its_licence_and_history() -> None:
    assert all(path.is_file() for path in packaged_files())
    for folder in ("ldnoobw", "surge_ai_profanity", "nerv_filter_ko"):
        assert (SOURCES_DIR / folder / "LICENSE").is_file()
    attribution = (SOURCES_DIR / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert "5faf2ba42d7b1c0977169ec3611df25a3c08eb13" in attribution  # LDNOOBW @ commit
    assert not (SOURCES_DIR / "boostcamp_korean_badwords").exists()  # no licence: not shipped
    for changes in (LEXICON_DIR / "CHANGES.md", ROOT / "bot" / "policy" / "cues" / "CHANGES.md"):
        assert "r11" in changes.read_text(encoding="utf-8")


def test_editing_a_lexicon_changes_the_rules_version(tmp_path: Path) -> None:
    lexicon = tmp_path / "lexicon"
    shutil.copytree(LEXICON_DIR, lexicon, ignore=shutil.ignore_patterns("sources"))
    same = RuleScorer.packaged(lexicon_dir=lexicon)
    assert same.version == RuleScorer.packaged().version  # the content, not the place
    assert same.score(["jiggs is so good"])[0].probability == 0.0  # allowed
    allow = lexicon / "en_allow.txt"
    allow.write_text(
        allow.read_text(encoding="utf-8").replace("jiggs  #", "# jiggs  #"), encoding="utf-8"
    )
    edited = RuleScorer.packaged(lexicon_dir=lexicon)
    assert edited.version != same.version and edited.version.startswith("rules-")
    assert edited.score(["jiggs is so good"])[0].probability >= 0.5  # now matched


def test_a_missing_list_is_an_error_naming_the_file(tmp_path: Path) -> None:
    lexicon = tmp_path / "lexicon"
    shutil.copytree(LEXICON_DIR, lexicon, ignore=shutil.ignore_patterns("sources"))
    (lexicon / "ko_allow.txt").unlink()
    with pytest.raises(DataNotFoundError, match=re.escape(str(lexicon / "ko_allow.txt"))):
        RuleScorer.packaged(lexicon_dir=lexicon)
    sources = tmp_path / "sources"
    shutil.copytree(SOURCES_DIR, sources)
    (sources / "nerv_filter_ko" / "default_dic.json").unlink()  # required in the package
    with pytest.raises(DataNotFoundError, match=re.escape("default_dic.json")):
        RuleScorer.packaged(sources=sources)


def test_the_unlicensed_student_list_is_read_only_from_a_data_dir(data_dir: Path) -> None:
    packaged, research = RuleScorer.packaged(), RuleScorer.from_data_dir(data_dir)
    assert packaged.version != research.version
    en = packaged.version.split("-")[2]
    assert research.version.split("-")[2] == en  # English lists are the same files
    # only the student list has digit obfuscations and the initialism ㅅㅂ: the default's
    # Korean recall loss (measured in the commit that shipped the lists)
    for text in ("18놈", "ㅅㅂ"):
        assert research.score([text])[0].probability >= 0.5 > packaged.score([text])[0].probability


def test_lexicon_fields_are_the_files() -> None:
    lexicon = Lexicon.read()
    assert "hell" in lexicon.en_allow and "미친" in lexicon.ko_allow
    assert "틀딱챔" in lexicon.ko_allow_prefixes and "짱깨" in lexicon.ko_hate
    assert sorted(p.name for p in LEXICON_DIR.glob("*.txt")) == sorted(
        p.name for p in packaged_files() if p.parent == LEXICON_DIR
    )


def test_editing_a_cue_list_changes_the_policy_version(tmp_path: Path) -> None:
    policy = tmp_path / "policy"
    shutil.copytree(ROOT / "bot" / "policy", policy)
    assert policy_digest(policy) == policy_digest()
    topics = policy / "cues" / "topics.txt"
    topics.write_text(topics.read_text(encoding="utf-8") + "tentacle\n", encoding="utf-8")
    assert policy_digest(policy) != policy_digest()
