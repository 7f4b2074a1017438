"""The chat-log readers of ``model.chatlogs``, on hand-written samples of every format (no
copied chat), and on the data dir's CSV and JSON dumps; replay's text-log formats are
also covered on real files in ``test_replay_and_cli.py``."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.replay import ReplayStats, iter_log, read_chat_log
from bot.twitch.events import synthetic_msg_id
from model.chatlogs import (
    CHAT_SOURCES,
    ChatLine,
    bench_logs,
    chat_of,
    iter_chat,
    live_chat_logs,
    read_ban_targets,
    read_bocru_json,
    read_chat_lines,
    read_hasanabi_csv,
    read_parkeunsang_csv,
    read_text_log,
)
from tests.conftest import DATA_DIR, needs_data

KST = timezone(timedelta(hours=9))

CHATTY = (
    "# Log started: 2021-12-10 20:57:40 +0900\n"
    "[2021-12-10 20:57:42] <%Bean (bean_01)> hello there\n"
    "[2021-12-10 20:57:43] <@^ModBot> no links please\n"
    "[2021-12-10 20:57:44] <~Host>* waves at chat\n"
    "\n"
    "[2021-12-10 20:57:45] <Plain> first\n"
    "[2021-12-10 20:57:46] <Plain> bad words here\n"
    "[2021-12-10 20:57:47] BAN: plain (5s)\n"
    "[2021-12-10 20:57:48] BAN: nobody (5s)\n"
    "[2021-12-10 20:57:49] BAN: plain (600s)\n"
    "[Info] Some notice\n"
)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_chatty_reader_names_badges_actions_and_the_log_time_zone(tmp_path: Path) -> None:
    log = _write(tmp_path / "#SomeChan-1.log.gz", CHATTY)
    bean, bot, host, first, bad = read_chat_lines(log)
    sent = datetime(2021, 12, 10, 20, 57, 42, tzinfo=KST).timestamp()
    assert bean == ChatLine(
        2, "somechan", "bean_01", "Bean", sent, "hello there", frozenset({"subscriber"})
    )
    assert (bot.login, bot.badges) == ("modbot", frozenset({"moderator", "bot"}))
    # Chatty writes "/me" as `>*`; the text is kept, the action is not marked (as replay
    # always did, pinned by the golden record)
    assert (host.text, host.badges, host.is_action) == ("waves at chat", {"broadcaster"}, False)
    assert (first.line, bad.line, bad.sent_at) == (6, 7, sent + 4)
    lines = list(read_text_log(log))
    assert len(lines) == 11 and lines[4] == (5, "", None)  # blank lines are kept, as None


def test_ban_targets_are_the_users_last_message_before_the_ban(tmp_path: Path) -> None:
    log = _write(tmp_path / "#somechan.log.gz", CHATTY)
    # the second BAN of `plain` has no message in between: nothing new to blame
    assert [(t.login, t.text) for t in read_ban_targets(log)] == [("plain", "bad words here")]


def test_korean_locale_export_reader_reads_am_pm_and_noon(tmp_path: Path) -> None:
    log = _write(
        tmp_path / "1234.txt",
        "[21. 10. 13. 오후 10:00:04] <Viewer> hi\n"
        "[21. 10. 14. 오전 12:30:00] <Viewer> after midnight\n"
        "[21. 10. 14. 오후 12:30:00] <other> lunch <3 > ok\n"
        "not chat\n",
    )
    late, midnight, noon = read_chat_lines(log)
    assert late == ChatLine(
        1,
        "1234",
        "viewer",
        "Viewer",
        datetime(2021, 10, 13, 22, 0, 4, tzinfo=UTC).timestamp(),
        "hi",
    )
    assert midnight.sent_at == datetime(2021, 10, 14, 0, 30, tzinfo=UTC).timestamp()
    assert noon.sent_at == datetime(2021, 10, 14, 12, 30, tzinfo=UTC).timestamp()
    assert noon.text == "lunch <3 > ok"


def test_irssi_reader_dates_places_and_marks_actions(tmp_path: Path) -> None:
    log = _write(
        tmp_path / "x.log",
        "--- Log opened Sat Mar 04 23:58:00 2017\n"
        "23:58 -!- me [me@me.tmi.twitch.tv] has joined #SomeChan\n"
        "23:59 <@Mod> late\n"
        "--- Day changed Sun Mar 05 2017\n"
        "00:01 < viewer> early\n"
        "00:02  * viewer waves\n"
        "00:03 <~Owner> mine\n",
    )
    late, early, wave, owner = read_chat_lines(log)
    assert (late.channel, late.login, late.badges) == ("somechan", "mod", {"moderator"})
    assert early.sent_at == datetime(2017, 3, 5, 0, 1, tzinfo=UTC).timestamp()
    assert (early.badges, early.is_action) == (frozenset(), False)
    assert (wave.login, wave.text, wave.is_action) == ("viewer", "waves", True)
    assert owner.badges == {"broadcaster"}


def test_parkeunsang_csv_reader(tmp_path: Path) -> None:
    path = tmp_path / "SomeChan_0616.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "contents", "viewers", "time"])
        writer.writerow(["팡 (pang_1)", " 안녕, 하세요", "100", "21:05"])
        writer.writerow(["Solo", " ㅋㅋ", "101", "21:06"])
    first, second = read_parkeunsang_csv(path)
    assert first == ChatLine(1, "somechan", "pang_1", "팡", None, "안녕, 하세요")
    assert (second.line, second.login, second.display_name) == (2, "solo", "Solo")


def test_hasanabi_csv_reader_has_texts_only(tmp_path: Path) -> None:
    path = tmp_path / "(SomeChan) [2022-11-17T20 48 30Z] A TITLE.csv"
    path.write_text(',comment\n0,hello\n1," spaced, quoted "\n', encoding="utf-8")
    assert list(read_hasanabi_csv(path)) == [
        ChatLine(1, "somechan", "", "", None, "hello"),
        ChatLine(2, "somechan", "", "", None, "spaced, quoted"),
    ]


def test_bocru_json_reader_uses_body_or_fragments(tmp_path: Path) -> None:
    comments = [
        {
            "createdAt": "2025-11-03T17:05:00.5Z",
            "commenter": {"login": "Fan_1", "displayName": "Fan_1"},
            "message": {
                "body": "hi Kappa",
                "userBadges": [{"_id": "subscriber", "version": "3"}, {"_id": ""}],
            },
        },
        {
            "createdAt": "not a time",
            "commenter": None,
            "message": {"fragments": [{"text": "only "}, {"text": "fragments", "emote": None}]},
        },
    ]
    path = tmp_path / "data" / "SomeChan" / "2025-11-03_1" / "verbose_chat.json.gz"
    _write(path, json.dumps(comments))
    fan, anonymous = read_bocru_json(path)
    sent = datetime(2025, 11, 3, 17, 5, 0, 500_000, tzinfo=UTC).timestamp()
    assert fan == ChatLine(1, "somechan", "fan_1", "Fan_1", sent, "hi Kappa", {"subscriber"})
    assert anonymous == ChatLine(2, "somechan", "", "", None, "only fragments")


def _data_dir(root: Path) -> Path:
    """A data dir with a few hand-written lines in every source's place."""
    _write(root / "twitch_chat_ko_boostcamp/twitch/#kochan.log.gz", CHATTY)
    _write(
        root / "twitch_chat_en_madcookie/1.txt",
        "[21. 10. 13. 오후 10:00:04] <a> hey @SomeOne\n",
    )
    _write(
        root / "twitch_chat_en_madcookie/dist/2.txt",
        "[21. 10. 13. 오후 10:00:05] <b> second file\n",
    )
    _write(
        root / "twitch_chat_en_spannbauer/data/#esports.log",
        "--- Log opened Sat Mar 04 23:58:00 2017\n23:59 < c> gg\n00:00  * c cheers\n",
    )
    _write(root / "twitch_chat_en_hasanabi/HasanAbiData/(H) x.csv", ",comment\n0,\n1,yo\n")
    _write(
        root / "twitch_chat_ko_parkeunsang/sample_files/chan_0616.csv",
        "id,contents,viewers,time\nd,  ㅎㅇ,1,10:00\n",
    )
    _write(
        root / "twitch_chat_en_bocru/data/v/1/verbose_chat.json.gz",
        json.dumps([{"message": {"body": "pog"}}]),
    )
    return root


def test_catalogue_reads_every_source_and_training_gets_texts_without_actions(
    tmp_path: Path,
) -> None:
    root = _data_dir(tmp_path)
    texts = {name: list(source.texts(root)) for name, source in CHAT_SOURCES.items()}
    assert texts == {
        "boostcamp_ko": [
            "hello there",
            "no links please",
            "waves at chat",
            "first",
            "bad words here",
        ],
        "parkeunsang_ko": ["ㅎㅇ"],
        "bocru_en": ["pog"],
        "madcookie_en": ["hey @SomeOne", "second file"],
        "hasanabi_en": ["", "yo"],
        "spannbauer_en": ["gg"],  # the `* c cheers` action is not a chat text
    }
    assert [c.is_action for c in CHAT_SOURCES["spannbauer_en"].lines(root)] == [False, True]
    # iter_chat: sources interleaved in catalogue order, empty texts dropped, @mentions hidden
    # (hasanabi's first text is empty: it counts against the cap, then is dropped)
    assert list(iter_chat(root, ("en",), per_source=1)) == [
        ("en", "pog"),
        ("en", "hey @user"),
        ("en", "gg"),
    ]
    assert [t for _, t in iter_chat(root, ("ko",), sources=("parkeunsang_ko",))] == ["ㅎㅇ"]


def test_catalogue_paths(tmp_path: Path) -> None:
    logs = live_chat_logs(tmp_path)
    assert [p.name for p in logs["ko"]] == [
        "#yd0821.log.gz",
        "#yapyap30.log.gz",
        "#runner0608.log.gz",
    ]
    assert [chat_of(str(p.relative_to(tmp_path))) for chat in logs.values() for p in chat[:1]] == [
        "ko",
        "en",
        "en-esports",
    ]
    assert [p.name for p in bench_logs(tmp_path)] == ["#yd0821.log.gz", "chat.log"]


def test_replay_wraps_chat_lines_and_dates_raw_irc_by_the_line_before(tmp_path: Path) -> None:
    log = _write(
        tmp_path / "#mixed.log",
        "# Log started: 2021-12-10 20:57:40 +0900\n"
        "[2021-12-10 20:57:42] <%Bean (bean_01)> hello there\n"
        ":nick!nick@nick.tmi.twitch.tv PRIVMSG #other :from irc\n"
        "garbage line\n",
    )
    stats = ReplayStats()
    chatty, irc = read_chat_log(log, stats)
    line = next(read_chat_lines(log))
    assert (chatty.msg_id, chatty.channel, chatty.login, chatty.display_name) == (
        synthetic_msg_id("#mixed.log", 2),
        "mixed",
        "bean_01",
        "Bean",
    )
    assert (chatty.text, chatty.sent_at, chatty.badges) == (line.text, line.sent_at, line.badges)
    assert (irc.channel, irc.text, irc.sent_at) == ("other", "from irc", line.sent_at)
    assert irc.msg_id == synthetic_msg_id("#mixed.log", 3)
    assert (stats.lines, stats.messages, stats.skipped) == (4, 2, 1)
    assert [n for n, _, m in iter_log(log) if m is None] == [1, 4]


@needs_data
@pytest.mark.parametrize(
    ("source", "count"),
    [("parkeunsang_ko", 51_922), ("hasanabi_en", 168_494)],
)
def test_csv_sources_on_real_files(source: str, count: int) -> None:
    lines = list(CHAT_SOURCES[source].lines(DATA_DIR))
    assert len(lines) == count  # DATA.md
    assert all(line.channel for line in lines)
    if source == "parkeunsang_ko":
        assert {line.channel for line in lines} == {"dopa24", "handongsuk", "tmxk319"}
        assert all(line.login for line in lines)


@needs_data
def test_bocru_reader_on_a_real_file() -> None:
    path = min((DATA_DIR / "twitch_chat_en_bocru" / "data").glob("*/*/verbose_chat.json.gz"))
    lines = list(read_bocru_json(path))
    assert lines and all(line.login and line.sent_at for line in lines)
    assert {line.channel for line in lines} == {path.parent.parent.name.lower()}
    assert [line.line for line in lines] == list(range(1, len(lines) + 1))
