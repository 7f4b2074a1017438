"""The loaders of the conversational, implicit-hate and moderator-label sets (DATA.md §6),
on small hand-made files laid out like the data dir: label mapping, categories, splits,
cross-set deduplication."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from model import data
from model.data import Example, load_examples

_LEVELS = ("1", "0", "-1", "-2", "-3")
_MARKS = (
    "ableist",
    "homophobic",
    "intellectual",
    "racist",
    "sexist",
    "sex_harassment",
    "transphobic",
    "target.generalised",
    "target.individual",
    "target.system",
    "explicit",
    "implicit",
)


def _convabuse_row(text: str, votes: list[tuple[str, set[str]]]) -> dict[str, str]:
    """``votes``: per annotator, an is_abuse level and the marks it set."""
    row = {"example_id": "1", "conv_id": "1", "prev_agent": "", "prev_user": "", "agent": ""}
    row |= {"user": text, "bot": "E.L.I.Z.A."}
    for a in range(1, 9):
        level, marks = votes[a - 1] if a <= len(votes) else ("", set())
        for lv in _LEVELS:
            row[f"Annotator{a}_is_abuse.{lv}"] = "" if not level else str(int(lv == level))
        for mark in _MARKS:
            row[f"Annotator{a}_{mark}"] = "" if not level else str(int(mark in marks))
    return row


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _write_jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    clean = ("1", set[str]())
    abusive = ("-2", {"sex_harassment", "target.individual"})
    base = tmp_path / "convabuse_en" / "2_splits"
    _write_csv(
        base / "ConvAbuseEMNLPtrain.csv",
        [
            _convabuse_row("you are a stupid bot", [abusive, abusive, clean]),
            _convabuse_row("what time is it", [clean, clean, ("0", set())]),
            _convabuse_row("shut up", [abusive, clean]),  # a tie: dropped
            _convabuse_row("nobody rated this", []),
        ],
    )
    _write_csv(base / "ConvAbuseEMNLPvalid.csv", [_convabuse_row("hello there", [clean])])
    _write_csv(
        base / "ConvAbuseEMNLPtest.csv",
        [_convabuse_row("go away idiot", [("-1", {"intellectual"})])],
    )

    turns = [
        {"turn_id": 1, "text": " Title: cats &amp;amp; dogs ", "offense_label": "Safe"},
        {
            "turn_id": 2,
            "text": "you are a moron",
            "offense_label": "Offensive",
            "offense_targets": ["individual/redditor"],
        },
        {
            "turn_id": 3,
            "text": "all of them are vermin",
            "offense_label": "Offensive",
            "offense_targets": ["people from a region"],
        },
        {"turn_id": 4, "text": "   ", "offense_label": "Safe"},
    ]
    tc = tmp_path / "toxichat_en" / "data" / "ToxiChat"
    bot_reply = {"text": "a bot's reply is not human chat", "offense_label": "Offensive"}
    _write_jsonl(tc / "train.jsonl", [{"reddit_thread": turns, "final_dgpt_response": bot_reply}])
    _write_jsonl(tc / "dev.jsonl", [{"reddit_thread": [{"text": "ok", "offense_label": "Safe"}]}])
    _write_jsonl(tc / "test.jsonl", [])

    hm = tmp_path / "hatemoji_en" / "HatemojiBuild"
    fields = {"entry_id": "0", "target": "[]", "round.base": "5", "round.set": "5a"}
    fields |= {"set": "original", "split": "", "matched_text": "", "matched_id": ""}
    _write_csv(
        hm / "train.csv",
        [
            fields
            | {
                "text": "I would love to \U0001f52a some \U0001f410",
                "type": "threateninglanguage",
                "label_gold": "1",
            },
            fields | {"text": "\U0001f410 are lovely", "type": "none", "label_gold": "0"},
        ],
    )
    _write_csv(hm / "validation.csv", [fields | {"text": "x", "type": "none", "label_gold": "0"}])
    _write_csv(hm / "test.csv", [fields | {"text": "y", "type": "derogation", "label_gold": "1"}])

    _write_jsonl(
        tmp_path / "stormfront_en" / "stormfront.jsonl",
        [
            {"label": "hate", "in_sampled_test": False, "text": "they are a plague on us"},
            {"label": "noHate", "in_sampled_test": True, "text": "the forum opened today"},
            {"label": "relation", "in_sampled_test": False, "text": "and them too"},
            {"label": "idk/skip", "in_sampled_test": False, "text": "hmm"},
        ],
    )

    sb = {k: "" for k in ("intentYN", "sexReason", "targetMinority", "targetStereotype")}
    sbic = [
        # three annotators: offensive 1, 1, 0.5 → mean 0.83; lewd 1, 1, 0; aimed at a person
        sb
        | {
            "post": "nice legs, come here",
            "offensiveYN": "1.0",
            "sexYN": "1.0",
            "whoTarget": "0.0",
        },
        sb
        | {
            "post": "nice legs, come here",
            "offensiveYN": "1.0",
            "sexYN": "1.0",
            "whoTarget": "0.0",
        },
        sb
        | {"post": "nice legs, come here", "offensiveYN": "0.5", "sexYN": "0.0", "whoTarget": ""},
        sb
        | {
            "post": "that group ruins everything",
            "offensiveYN": "1.0",
            "sexYN": "0.0",
            "whoTarget": "1.0",
        },
        sb | {"post": "lovely weather", "offensiveYN": "0.0", "sexYN": "0.0", "whoTarget": ""},
        sb | {"post": "lovely weather", "offensiveYN": "0.5", "sexYN": "0.0", "whoTarget": ""},
        sb | {"post": "no rating", "offensiveYN": "", "sexYN": "", "whoTarget": ""},
        # the same sentence as in Stormfront: deduplicated away
        sb
        | {
            "post": "They are a  PLAGUE on us",
            "offensiveYN": "1.0",
            "sexYN": "0.0",
            "whoTarget": "1.0",
        },
    ]
    _write_csv(tmp_path / "sbic_dev_en" / "data" / "SBF" / "SBFv2.dev.csv", sbic)

    _write_jsonl(
        tmp_path / "toxigen_seeds_en" / "toxigen_seed_sentences.jsonl",
        [
            {"text": "those people are all lazy", "label": "hate"},
            {"text": "a fine day", "label": "neutral"},
        ],
    )

    ko = tmp_path / "kosbi_ko" / "data" / "KoSBi"
    ko.mkdir(parents=True)
    (ko / "kosbi_valid.json").write_text(
        json.dumps([{"sentence": "그 사람들은 다 게으르다", "sentence_label": "unsafe"}]), "utf-8"
    )
    (ko / "kosbi_test.json").write_text(
        json.dumps(
            [
                {"sentence": "오늘 날씨가 좋다", "sentence_label": "safe"},
                {"sentence": "", "sentence_label": "safe"},
                {"sentence": "모르겠다", "sentence_label": "undecided"},
            ]
        ),
        "utf-8",
    )

    bz = tmp_path / "twitch_modbot_botezlive_en"
    (bz / "tests" / "data").mkdir(parents=True)
    (bz / "history").mkdir()
    (bz / "tests" / "data" / "test_data.csv").write_text(
        'index,is_offensive,text\n0,1,"tape."\n1,0,"nice move"\n', "utf-8"
    )
    (bz / "history" / "test_data_longer_1eebb787.csv").write_text(
        "is_offensive,text\n1,tape. \n1,you are trash at chess\n0,good game\n", "utf-8"
    )
    return tmp_path


def _by_text(examples: list[Example]) -> dict[str, Example]:
    return {e.text: e for e in examples}


def test_convabuse_majority_ties_and_categories(root: Path) -> None:
    rows = _by_text(list(data.load_convabuse(root, 13)))
    assert set(rows) == {"you are a stupid bot", "what time is it", "hello there", "go away idiot"}
    bot = rows["you are a stupid bot"]
    assert (bot.label, bot.split, bot.categories) == (1, "train", frozenset({"sexual", "insult"}))
    assert (rows["what time is it"].label, rows["what time is it"].categories) == (0, frozenset())
    assert rows["hello there"].split == "dev"
    assert (rows["go away idiot"].split, rows["go away idiot"].categories) == (
        "test",
        frozenset({"insult"}),
    )


def test_toxichat_human_turns_only_with_targets(root: Path) -> None:
    rows = _by_text(list(data.load_toxichat(root, 13)))
    assert set(rows) == {"Title: cats & dogs", "you are a moron", "all of them are vermin", "ok"}
    assert rows["you are a moron"].categories == {"insult"}
    assert rows["all of them are vermin"].categories == {"hate"}
    assert rows["Title: cats & dogs"].label == 0 and rows["ok"].split == "dev"


def test_hatemoji_stormfront_toxigen_kosbi(root: Path) -> None:
    hm = list(data.load_hatemoji(root, 13))
    assert [(e.label, e.split, e.categories) for e in hm] == [
        (1, "train", {"hate", "threat"}),
        (0, "train", frozenset()),
        (0, "dev", frozenset()),
        (1, "test", {"hate"}),
    ]
    sf = list(data.load_stormfront(root, 13))
    assert [(e.label, e.split) for e in sf] == [(1, "train"), (0, "test")]
    assert sf[0].categories == {"hate"}
    tg = list(data.load_toxigen_seeds(root, 13))
    assert [(e.label, e.categories) for e in tg] == [(1, {"hate"}), (0, frozenset())]
    ks = list(data.load_kosbi(root, 13))
    assert [(e.text, e.label, e.lang) for e in ks] == [
        ("그 사람들은 다 게으르다", 1, "ko"),
        ("오늘 날씨가 좋다", 0, "ko"),
    ]


def test_sbic_post_level_means(root: Path) -> None:
    rows = _by_text(list(data.load_sbic(root, 13)))
    assert rows["no rating"].label == 0  # a blank rating counts as "not offensive"
    assert rows["nice legs, come here"].categories == {"sexual", "insult"}
    assert rows["that group ruins everything"].categories == {"hate"}
    assert rows["lovely weather"].label == 0  # mean 0.25


def test_botezlive_moderator_labels(root: Path) -> None:
    rows = list(data.load_botezlive(root, 13))
    assert [(e.text, e.label, e.split) for e in rows if e.split == "test"] == [
        ("tape.", 1, "test"),
        ("nice move", 0, "test"),
    ]
    assert all(not e.categories for e in rows)


def test_new_sets_are_shippable_and_deduplicated_across_sets(root: Path) -> None:
    new = ("convabuse", "toxichat", "hatemoji", "stormfront", "sbic", "toxigen_seeds", "kosbi")
    assert set(new) | {"botezlive"} <= set(data.SHIPPABLE)
    examples = load_examples(root, [*new, "botezlive"])
    texts = [e.text.casefold() for e in examples]
    # SBIC repeats the Stormfront sentence (spacing and case differ): kept once, as Stormfront
    assert sum(" ".join(t.split()) == "they are a plague on us" for t in texts) == 1
    assert next(e for e in examples if "plague" in e.text).source == "stormfront"
    # "tape." is botezlive's test text: not also in its train split
    assert [e.split for e in examples if e.text == "tape."] == ["test"]
    assert {e.source for e in examples} == {*new, "botezlive"}


def test_botezlive_clean_chat_leaves_out_moderated_users_and_bots(tmp_path: Path) -> None:
    log = tmp_path / "twitch_modbot_botezlive_en" / "tests" / "data" / "test_chat.log"
    log.parent.mkdir(parents=True)
    log.write_text(
        "# Log started: 2022-07-07 05:12:45 -0700\n"
        "Joining #botezlive..\n"
        "<ascensler> hi chat\n"
        "<%Troll99> something rude\n"
        "<@^Moobot> @someone check out the guest\n"
        "<!%fan> great move\n"
        "DELETED: troll99 (something rude)\n"
        "<spammer> buy followers\n"
        "BAN: spammer (600s)\n"
        "[Notification] fan subscribed\n",
        encoding="utf-8",
    )
    assert data.botezlive_clean_chat(tmp_path) == ["hi chat", "great move"]
