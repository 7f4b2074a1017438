"""Lexicons as data: plain files with a reason per entry, and a version that follows them."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bot.policy.version import policy_digest
from model.errors import DataNotFoundError
from model.rules import RuleScorer
from model.wordlists import LEXICON_DIR, Lexicon, entries_of, lexicon_files
from tests.conftest import DATA_DIR, ROOT, needs_data


def test_entries_are_words_and_comments_are_reasons() -> None:
    text = '# heading\n\nhell  # mild\nracial / ethnic slurs\n  kk  # "ok" (not KKK)\n'
    assert entries_of(text) == ("hell", "racial / ethnic slurs", "kk")


def test_the_project_ships_its_lexicons_and_history_but_no_third_party_list() -> None:
    assert all(path.is_file() for path in lexicon_files())
    # third-party lists are read from the data dir, never copied into the project
    assert sorted(p.name for p in LEXICON_DIR.iterdir() if p.is_dir()) == []
    for changes in (LEXICON_DIR / "CHANGES.md", ROOT / "bot" / "policy" / "cues" / "CHANGES.md"):
        assert "r11" in changes.read_text(encoding="utf-8")


@needs_data
def test_editing_a_lexicon_changes_the_rules_version(tmp_path: Path) -> None:
    lexicon = tmp_path / "lexicon"
    shutil.copytree(LEXICON_DIR, lexicon)
    same = RuleScorer.licensed(DATA_DIR, lexicon_dir=lexicon)
    assert same.version == RuleScorer.licensed(DATA_DIR).version  # the content, not the place
    assert same.score(["jiggs is so good"])[0].probability == 0.0  # allowed
    allow = lexicon / "en_allow.txt"
    allow.write_text(
        allow.read_text(encoding="utf-8").replace("jiggs  #", "# jiggs  #"), encoding="utf-8"
    )
    edited = RuleScorer.licensed(DATA_DIR, lexicon_dir=lexicon)
    assert edited.version != same.version and edited.version.startswith("rules-")
    assert edited.score(["jiggs is so good"])[0].probability >= 0.5  # now matched


@needs_data
def test_a_missing_list_is_an_error_naming_the_file(tmp_path: Path) -> None:
    lexicon = tmp_path / "lexicon"
    shutil.copytree(LEXICON_DIR, lexicon)
    (lexicon / "ko_allow.txt").unlink()
    with pytest.raises(DataNotFoundError, match=re.escape(str(lexicon / "ko_allow.txt"))):
        RuleScorer.licensed(DATA_DIR, lexicon_dir=lexicon)
    with pytest.raises(DataNotFoundError, match="chatwarden data fetch"):
        RuleScorer.licensed(tmp_path / "no-data-dir")


def test_the_unlicensed_student_list_is_read_only_from_a_data_dir(data_dir: Path) -> None:
    packaged, research = RuleScorer.licensed(data_dir), RuleScorer.from_data_dir(data_dir)
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
        p.name for p in lexicon_files()
    )


def test_editing_a_cue_list_changes_the_policy_version(tmp_path: Path) -> None:
    policy = tmp_path / "policy"
    shutil.copytree(ROOT / "bot" / "policy", policy)
    assert policy_digest(policy) == policy_digest()
    topics = policy / "cues" / "topics.txt"
    topics.write_text(topics.read_text(encoding="utf-8") + "tentacle\n", encoding="utf-8")
    assert policy_digest(policy) != policy_digest()


def test_the_policy_version_covers_every_module_the_policy_imports() -> None:
    """Every module that a deciding file imports from the project (but for the chat event
    and score types it only reads) is itself a deciding file: editing it changes the
    version stored on flags."""
    import ast
    import importlib.util

    from bot.policy.version import deciding_files

    deciding = {p.resolve() for p in deciding_files()}
    data_types = {"bot.twitch.events", "model.scorer"}  # what a decision reads, not how
    for path in [p for p in deciding if p.suffix == ".py"]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                if name.split(".")[0] not in {"bot", "model"} or name in data_types:
                    continue
                spec = importlib.util.find_spec(name)
                assert spec is not None and spec.origin is not None, name
                origin = Path(spec.origin).resolve()
                if origin.name == "__init__.py":
                    continue  # a package's own file imports nothing that decides
                assert origin in deciding, f"{path.name} imports {name}, not in the version"
