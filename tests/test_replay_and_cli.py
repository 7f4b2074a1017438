from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.cli import main
from bot.replay import ReplayStats, read_ban_targets, read_chat_log
from bot.settings import Settings
from model.scorer import Score
from tests.conftest import DATA_DIR, needs_data, require_data

KO_LOG = DATA_DIR / "twitch_chat_ko_boostcamp" / "twitch" / "#yd0821.log.gz"
RAW_IRC = DATA_DIR / "twitch_chat_en_madcookie" / "chat.log"


@needs_data
def test_chatty_log_reader_on_real_file() -> None:
    stats = ReplayStats()
    messages = list(read_chat_log(KO_LOG, stats))
    assert len(messages) == stats.messages == 21_202  # every `[time] <user> text` line
    first = messages[0]
    assert (first.channel, first.login, first.display_name, first.text) == (
        "yd0821",
        "fromn02",
        "단팥팡",
        "오",
    )
    assert "subscriber" in first.badges
    assert first.sent_at == 1639137462.0  # 2021-12-10 20:57:42 +0900
    bot = next(m for m in messages if m.login == "twipkr")
    assert "moderator" in bot.badges
    assert len({m.msg_id for m in messages}) == len(messages)


@needs_data
def test_raw_irc_log_reader_on_real_file() -> None:
    messages = list(read_chat_log(RAW_IRC))
    assert len(messages) == 4_557
    assert {m.channel for m in messages} == {"veibae", "saddummy"}
    assert messages[0].text == "귀염~~ㅋㅋ" and messages[0].login == "parkon88"


@needs_data
def test_irssi_log_reader_on_real_file(tmp_path: Path) -> None:
    log = DATA_DIR / "twitch_chat_en_spannbauer" / "data" / "#mew2king.log"
    stats = ReplayStats()
    messages = list(read_chat_log(log, stats))
    # 22,857 `< nick>` lines (DATA.md) + 20 `* nick` actions; join/close lines are not chat
    assert len(messages) == stats.messages == 22_877 and stats.skipped == 0
    first = messages[0]
    assert (first.channel, first.login, first.text) == ("mew2king", "faithfulforce", "gg")
    assert first.sent_at == 1489939680.0  # 2017-03-19 16:08 (UTC)
    action = next(m for m in messages if m.is_action)
    assert (action.login, action.text) == ("skalpine", "mang0 needs the falcon box")
    # the channel comes from the join line; dates from `Log opened` and `Day changed`
    other = tmp_path / "log.txt"
    other.write_text(
        "--- Log opened Sat Mar 04 23:58:00 2017\n"
        "23:58 -!- me [me@me.tmi.twitch.tv] has joined #SomeChan\n"
        "23:59 <@Mod> late\n--- Day changed Sun Mar 05 2017\n00:01 < viewer> early\n"
        "garbage line\n"
    )
    stats = ReplayStats()
    late, early = read_chat_log(other, stats)
    assert late.channel == early.channel == "somechan" and "moderator" in late.badges
    assert early.sent_at - late.sent_at == 120 and stats.skipped == 1


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch, stdin: str = "") -> tuple[int, str]:
    """Run the CLI in-process with the rule scorer (known decisions; models are tested apart)."""
    require_data()
    if "CHATWARDEN_MODEL_URI" not in os.environ:
        monkeypatch.setenv("CHATWARDEN_MODEL_URI", "rules")
    out = io.StringIO()
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    monkeypatch.setattr("sys.stdout", out)
    code = main(["--env-file", "/nonexistent", *args])
    return code, out.getvalue()


def test_replay_history_and_flagged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHATWARDEN_DATA_DIR", str(DATA_DIR))
    db = str(tmp_path / "cw.db")
    code, out = run_cli(["replay", "--json", "--db", db, str(KO_LOG), str(RAW_IRC)], monkeypatch)
    assert code == 0
    summary = json.loads(out)
    assert summary["messages"] == summary["scored"] == 21_202 + 4_557
    assert summary["flagged"] > 0 and summary["reports"] > 0
    assert summary["reports_sent"] == summary["reports"]  # to the log
    # replaying the same file again counts nothing twice
    code, out = run_cli(["replay", "--json", "--db", db, str(RAW_IRC)], monkeypatch)
    again = json.loads(out)
    assert again["duplicates"] == 4_557 and again["scored"] == 0

    code, out = run_cli(["flagged", "--since", "10000d", "--json", "--db", db], monkeypatch)
    users = json.loads(out)
    assert code == 0 and len(users) > 0
    assert users == sorted(
        users, key=lambda u: (-u["flagged"], -u["worst_score"], -u["last_flagged"])
    )
    worst = users[0]
    code, out = run_cli(["history", worst["login"], "--json", "--db", db], monkeypatch)
    history = json.loads(out)
    assert len(history["flags"]) == worst["flagged"]
    assert all(f["model_version"].startswith("rules-") for f in history["flags"])
    code, out = run_cli(["history", worst["login"], "--db", db], monkeypatch)
    assert code == 0 and "sent (UTC)" in out and worst["login"] in out
    code, out = run_cli(
        ["flagged", "--since", "10000d", "--db", db, "--channel", "veibae"], monkeypatch
    )
    assert code == 0 and "#veibae" in out and "#yd0821" not in out
    code, out = run_cli(["history", "nobody_like_this", "--db", db], monkeypatch)
    assert code == 1 and "no messages from" in out


def test_score_jsonl_keeps_order_and_reports_bad_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHATWARDEN_DATA_DIR", str(DATA_DIR))
    lines = [
        '{"text": "hello"}',
        '{"text": "fuck you"}',
        "not json",
        '{"txt": 1}',
        '{"text": ""}',
        json.dumps({"text": "시.발 " + "😀" * 500}),
    ]
    code, out = run_cli(["score", "--batch-size", "2"], monkeypatch, "\n".join(lines) + "\n")
    results = [json.loads(line) for line in out.splitlines()]
    assert code == 1  # some lines were bad, and said so
    assert len(results) == 6
    assert results[0] == {"score": 0.0, "flagged": False, "toxic": False, "labels": [], "why": []}
    # toxic: the scorer's call; flagged: the bot's (medium: a bare `fuck you` names nobody)
    # a bare `fuck you` answers whoever was speaking: aimed, so flagged (issue 29)
    assert results[1]["toxic"] and results[1]["flagged"] and results[1]["score"] >= 0.5
    assert results[1]["why"] == ["fuck", "fuck you"]  # the listed terms the rules matched
    assert "error" in results[2] and "error" in results[3]
    assert results[4]["toxic"] is False and results[5]["toxic"] is True
    assert "2 input line(s)" in capsys.readouterr().err


@pytest.mark.parametrize("workers", [1, 2])
def test_score_lines_fast_paths_write_what_the_json_module_would(
    rule_scorer: object, workers: int
) -> None:
    """`score` skips json.loads for plain `{"text": ...}` lines and formats its output by
    hand, in this process or in forked workers; on real chat and on lines with escapes,
    both must match the json module."""
    from bot.jsonl import score_lines
    from model.rules import RuleScorer

    assert isinstance(rule_scorer, RuleScorer)
    texts = [m.text for m in read_chat_log(KO_LOG)][:3000]
    texts += [m.text for m in read_chat_log(RAW_IRC)][:3000]
    texts += ['say "hi"', "back\\slash fuck you", "tab\tfuck", "\x7f", "니가 \u200b 병신아"]
    lines = [json.dumps({"text": t}, ensure_ascii=False) for t in texts]
    lines += [json.dumps({"text": t}) for t in texts[-5:]]  # ASCII-escaped
    lines += ['{"text":"no space"}', '{"text": "x", "user": 1}', '{"text": 5}']
    out = io.StringIO()
    score_lines(rule_scorer, 0.5, lines, out, batch_size=1024, workers=workers)
    expected = []
    for number, line in enumerate(lines, 1):
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise ValueError('expected an object with a string "text"')
        except ValueError as exc:
            expected.append(json.dumps({"error": f"line {number}: {exc}"}, ensure_ascii=False))
            continue
        s = rule_scorer.score([obj["text"]])[0]
        expected.append(
            json.dumps(
                {
                    "score": round(s.probability, 6),
                    "flagged": s.probability >= 0.5,
                    "labels": list(s.labels),
                    "why": list(s.evidence),
                },
                ensure_ascii=False,
            )
        )
    assert out.getvalue().splitlines() == expected
    assert sum('"flagged": true' in line for line in expected) > 20


class _PidScorer:
    """Says which process scored each text (in its labels)."""

    name = version = "pid"
    threshold = 0.5

    def score(self, texts: Sequence[str]) -> list[Score]:
        return [Score(0.0, (str(os.getpid()),)) for _ in texts]


class _MeetingPidScorer(_PidScorer):
    """A :class:`_PidScorer` whose forked workers wait for each other before scoring, so
    one fast worker cannot take both shares of a batch (a race, not a failure)."""

    def __init__(self) -> None:
        import multiprocessing

        self.parent = os.getpid()
        self.meet = multiprocessing.get_context("fork").Barrier(2)

    def score(self, texts: Sequence[str]) -> list[Score]:
        if os.getpid() != self.parent:
            self.meet.wait(timeout=60)
        return super().score(texts)


def test_score_lines_share_large_batches_among_forked_workers() -> None:
    from bot.jsonl import PARALLEL_MIN, score_lines

    big = [json.dumps({"text": f"line {i}"}) for i in range(3 * PARALLEL_MIN)]
    small = [json.dumps({"text": f"small {i}"}) for i in range(PARALLEL_MIN // 2)]
    out = io.StringIO()
    scorer = _MeetingPidScorer()
    assert score_lines(scorer, 0.5, big + small, out, batch_size=len(big), workers=2) == (
        len(big) + len(small),
        0,
    )
    pids = [json.loads(row)["labels"][0] for row in out.getvalue().splitlines()]
    assert len(set(pids[: len(big)])) == 2 and str(os.getpid()) not in pids[: len(big)]
    assert set(pids[len(big) :]) == {str(os.getpid())}  # a small batch: scored here
    out = io.StringIO()
    score_lines(_PidScorer(), 0.5, big, out, batch_size=len(big), workers=1)
    assert {json.loads(row)["labels"][0] for row in out.getvalue().splitlines()} == {
        str(os.getpid())
    }


class _DiesInWorkers(_PidScorer):
    """Scores in the main process; a forked worker that tries dies at once."""

    def __init__(self) -> None:
        self.parent = os.getpid()

    def score(self, texts: Sequence[str]) -> list[Score]:
        if os.getpid() != self.parent:
            os._exit(3)
        return super().score(texts)


def test_score_lines_lose_nothing_when_a_worker_dies(caplog: pytest.LogCaptureFixture) -> None:
    from bot.jsonl import PARALLEL_MIN, score_lines

    lines = [json.dumps({"text": f"line {i}"}) for i in range(4 * PARALLEL_MIN)]
    out = io.StringIO()
    scored = score_lines(_DiesInWorkers(), 0.5, lines, out, batch_size=PARALLEL_MIN, workers=2)
    assert scored == (len(lines), 0)
    rows = [json.loads(row) for row in out.getvalue().splitlines()]
    assert len(rows) == len(lines) and {r["labels"][0] for r in rows} == {str(os.getpid())}
    assert "a score worker died" in caplog.text


def test_user_errors_exit_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run_cli(["history", "x", "--db", str(tmp_path / "none.db")], monkeypatch)
    assert code == 2 and "no chatwarden database" in capsys.readouterr().err
    monkeypatch.setenv("CHATWARDEN_MODEL_URI", str(tmp_path / "no-model"))
    code, _ = run_cli(["score"], monkeypatch, '{"text": "x"}\n')
    err = capsys.readouterr().err
    assert code == 2 and str(tmp_path / "no-model") in err and len(err.splitlines()) == 1
    monkeypatch.delenv("CHATWARDEN_MODEL_URI")
    monkeypatch.setenv("CHATWARDEN_DATA_DIR", str(DATA_DIR))
    code, _ = run_cli(["replay", str(tmp_path / "nope.log")], monkeypatch)
    assert code == 2 and "no chat log at" in capsys.readouterr().err
    for option in ("--workers", "--batch-size"):
        with pytest.raises(SystemExit) as exit_:
            main(["score", option, "0"])
        assert (
            exit_.value.code == 2 and "not a whole number of at least 1" in capsys.readouterr().err
        )


def test_help_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for command in ("run", "history", "flagged", "score", "replay", "CHATWARDEN_CHANNELS"):
        assert command in text


@needs_data
def test_bench_measures_parser_scorer_and_pipeline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHATWARDEN_DATA_DIR", str(DATA_DIR))
    monkeypatch.setenv("CHATWARDEN_SCORE_CACHE", "1000")  # the long stream forgets lines
    args = ["bench", "--repeats", "1", "--rate", "4000", "--stream", "6000", "--json", str(RAW_IRC)]
    code, out = run_cli(args, monkeypatch)
    assert code == 0
    rows = json.loads(out)
    results = {r["name"].split(" ")[0] + r.get("unit", ""): r for r in rows}
    assert results["IRClines/s"]["items"] == 4_557
    assert results["pipeline:msg/s"]["items"] == 4_557  # none lost on the way
    assert all(r["rate"] > 0 for r in rows)
    networks = [r["name"].split()[0] for r in rows if "128 x 64 tokens" in r["name"]]
    assert networks == ["cnn", "bilstm", "cnn_bilstm"]
    cached = next(r for r in rows if "verdict cache" in r["name"])
    assert "% hits" in cached["name"]
    commands = [r for r in rows if r["name"].startswith("chatwarden score")]
    assert "in-process" in commands[0]["name"]  # then with the default workers, if > 1
    for command in commands:
        assert command["items"] == 4_557 and command["rate"] > 0  # every JSON line scored
    # every chat log of the data dir, several times the line memo
    stream = [r for r in rows if r["name"].startswith("long stream")]
    assert len(stream) == 1 + len(commands) and all(r["items"] == 6_000 for r in stream)
    assert "verdict cache" in stream[0]["name"] and "% hits" in stream[0]["name"]
    assert "in-process" in stream[1]["name"] and "distinct" in stream[1]["name"]
    # a real `chatwarden run` process fed over loopback IRC: at a fixed rate, then flat out
    live = [r for r in rows if r["name"] == "live bot"]
    assert [r["target_rate"] for r in live] == [4000, None]
    for r in live:
        assert r["sent"] == r["stored"] == 4_557 and r["lost"] == 0
        assert 0 < r["p50_ms"] <= r["p99_ms"] <= r["max_ms"]
        assert 0 < r["ready_s"] < 60 and r["peak_rss_mb"] > 20


def test_bench_rates_default_and_repeat(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import build_parser
    from bot.lab.bench import DEFAULT_LIVE_RATES

    parser = build_parser()
    assert parser.parse_args(["bench"]).rate is None  # then DEFAULT_LIVE_RATES
    assert DEFAULT_LIVE_RATES == (2000.0, 5000.0)
    assert parser.parse_args(["bench", "--rate", "1000", "--rate", "3e3"]).rate == [1000, 3000]
    for bad in ("0", "-5", "inf", "nan", "fast"):
        with pytest.raises(SystemExit):
            parser.parse_args(["bench", "--rate", bad])
        assert "is not a rate above 0" in capsys.readouterr().err


@needs_data
def test_doctor_reports_what_is_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        monkeypatch.setenv("CHATWARDEN_DATA_DIR", str(DATA_DIR))
        monkeypatch.setenv("CHATWARDEN_CHANNELS", "somechan")
        monkeypatch.setenv("CHATWARDEN_IRC_URL", f"irc://127.0.0.1:{port}")
        monkeypatch.setenv("CHATWARDEN_DB", str(tmp_path / "cw.db"))
        code, out = run_cli(["doctor", "--json"], monkeypatch)
        checks = {c["name"]: c for c in json.loads(out)}
        assert code == 0, checks
        assert checks["twitch irc"]["ok"] and checks["model"]["detail"].startswith("scorer rules-")
        assert "will be created" in checks["database"]["detail"]
    finally:
        listener.close()
    # Twitch unreachable, no channels, a bad setting: each named, with a fix
    monkeypatch.setenv("CHATWARDEN_CHANNELS", "")
    code, out = run_cli(["doctor"], monkeypatch)
    assert code == 1
    assert "FAIL  twitch irc" in out and "FAIL  channels" in out and "fix:" in out
    monkeypatch.setenv("CHATWARDEN_BATCH_MAX_SIZE", "many")
    code, out = run_cli(["doctor"], monkeypatch)
    assert code == 1 and "FAIL  settings" in out and "CHATWARDEN_BATCH_MAX_SIZE" in out


@needs_data
def test_live_chat_evaluation_on_real_logs() -> None:
    from bot.lab.livechat import evaluate_live_chat
    from bot.policy.policy import Policy
    from bot.policy.sensitivity import Sensitivity
    from bot.runtime import build_policy
    from model.rules import RuleScorer

    # the research lists (with the unlicensed Korean list of the data dir): the packaged
    # default flags none of this log's banned users' last messages, and the ban figures
    # must be seen counting something
    rule_scorer = RuleScorer.from_data_dir(DATA_DIR)
    ko = DATA_DIR / "twitch_chat_ko_boostcamp" / "twitch" / "#yd0821.log.gz"
    en = DATA_DIR / "twitch_chat_en_madcookie" / "dist" / "1209297939.txt"
    logs = {"ko": [ko], "en": [en]}

    def preset(name: str) -> Policy:
        settings = Settings(sensitivity=Sensitivity(name))
        return build_policy(settings, scorer_threshold=rule_scorer.threshold)

    medium, _ = evaluate_live_chat(rule_scorer, lambda: preset("medium"), logs, sample=6)
    results, ban = evaluate_live_chat(
        rule_scorer, lambda: preset("high"), logs, ban_logs=[ko], sample=6
    )
    # the default sensitivity flags swearing only when aimed at someone: far fewer flags
    for low, high in zip(medium, results, strict=True):
        assert low.flagged * 5 < high.flagged and low.users_reported <= high.users_reported
    by_chat = {r.chat: r for r in results}
    assert by_chat["ko"].messages == 21_202 and by_chat["en"].messages == 3_098
    for r in results:
        texts = [m.text for m in read_chat_log(ko if r.chat == "ko" else en)]
        flagged = sum(s.probability >= 0.5 for s in rule_scorer.score(texts))
        assert r.flagged <= flagged  # moderators and the broadcaster are exempt
        assert r.users_reported <= r.reports <= r.flagged
        assert len(r.sample) <= 6 and all(score >= 0.5 for score, _ in r.sample)
        assert sum(count for _, count in r.top_flagged) <= r.flagged
    # decided with the scorer's categories, as the pipeline decides (before, this evaluation
    # passed none, and every flag at 0.9 or more reported at once): none of these swearing
    # flags is severe, and nobody is flagged 3 times in 10 minutes
    assert by_chat["ko"].flagged == 65 and by_chat["ko"].users_reported == 0
    assert ban is not None and ban.ban_messages == sum(1 for _ in read_ban_targets(ko))
    assert 0 < ban.ban_flagged < ban.ban_messages
    assert ban.never_banned_messages < by_chat["ko"].messages


def test_fresh_audit_joins_back_and_still_describes_the_rules(
    tmp_path: Path, rule_scorer: object
) -> None:
    from bot.lab.livechat import AUDIT, evaluate_audit, load_audit
    from bot.policy.sensitivity import Sensitivity
    from bot.runtime import build_policy
    from model.errors import DataNotFoundError
    from model.rules import RuleScorer

    assert isinstance(rule_scorer, RuleScorer)
    # the audits were read on the r11 lists, the unshipped student list included
    rule_scorer = RuleScorer.from_data_dir(DATA_DIR)
    audit = load_audit(DATA_DIR)
    medium = Settings(sensitivity=Sensitivity("medium"))
    policy = build_policy(medium, scorer_threshold=rule_scorer.threshold)
    results = {(a.source, a.stratum): a for a in evaluate_audit(rule_scorer, policy, audit)}
    assert {k: (a.audited, a.toxic) for k, a in results.items()} == {
        ("bocru_en", "rules-r4-medium"): (100, 7),
        ("hasanabi_en", "rules-r4-medium"): (100, 30),
        ("bocru_en", "rules-r5-medium"): (100, 9),
        ("hasanabi_en", "rules-r5-medium"): (100, 19),
        ("twitch_chat_ko_boostcamp", "rules-r5-medium"): (100, 37),
        ("twitch_chat_ko_boostcamp", "rules-r6-medium"): (100, 50),
        ("bocru_en", "rules-r7-added"): (20, 11),  # every flag r7 added to r6
        ("hasanabi_en", "rules-r7-added"): (2, 0),
        ("twitch_chat_ko_boostcamp", "rules-r9-medium"): (38, 18),  # every r9 flag unread
        ("parkeunsang_ko", "rules-r9-medium"): (11, 7),  # every r9 flag of a chat never read
        ("hasanabi_en", "rules-r10-medium"): (100, 30),  # r10 flags not read before
        ("bocru_en", "rules-r10-medium"): (45, 5),  # every r10 flag not read before
        ("hasanabi_en", "rules-r11-medium"): (100, 32),  # every r11 flag not read before
    }
    # what the current rules still flag of each audit, and how many of those are toxic: a
    # change that moves one of these was measured on every audit (docs/labelling.md)
    assert {k: (a.still_flagged, a.true_flags) for k, a in results.items()} == {
        # r10: the whole chat, emotes and `what the fuck` name nobody; r11: sexual topics
        # need a sexual cue (no toxic flag lost)
        ("bocru_en", "rules-r4-medium"): (54, 7),
        ("hasanabi_en", "rules-r4-medium"): (75, 30),
        ("bocru_en", "rules-r5-medium"): (82, 9),
        ("hasanabi_en", "rules-r5-medium"): (83, 19),
        # r9 drops an order ending in 임마
        ("twitch_chat_ko_boostcamp", "rules-r5-medium"): (65, 36),
        ("twitch_chat_ko_boostcamp", "rules-r6-medium"): (71, 48),
        ("bocru_en", "rules-r7-added"): (7, 2),  # r8 takes back r7's disability-slur flags
        ("hasanabi_en", "rules-r7-added"): (2, 0),  # that name nobody (read in full)
        ("twitch_chat_ko_boostcamp", "rules-r9-medium"): (38, 18),
        ("parkeunsang_ko", "rules-r9-medium"): (11, 7),
        ("hasanabi_en", "rules-r10-medium"): (97, 30),
        ("bocru_en", "rules-r10-medium"): (34, 5),
        ("hasanabi_en", "rules-r11-medium"): (100, 32),
    }
    rows = AUDIT.read_text().splitlines()
    header = next(i for i, line in enumerate(rows) if line.startswith("source\t"))
    cells = rows[header + 1].split("\t")
    cells[1] = str(int(cells[1]) + 1)  # the next message, not the audited one
    bad = tmp_path / "audit.tsv"
    bad.write_text("\n".join([rows[header], "\t".join(cells)]) + "\n")
    with pytest.raises(DataNotFoundError, match="is not the audited one"):
        load_audit(DATA_DIR, bad)


@needs_data
def test_bench_with_the_neural_scorer_times_its_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATWARDEN_DATA_DIR", str(DATA_DIR))
    monkeypatch.setenv("CHATWARDEN_MODEL_URI", "bundled")
    args = ["bench", "--repeats", "1", "--no-live", "--stream", "0", "--json", str(RAW_IRC)]
    code, out = run_cli(args, monkeypatch)
    assert code == 0
    names = {r["name"]: r for r in json.loads(out)}
    network = next(r for n, r in names.items() if "128 x 64 tokens" in n)
    assert network["items"] == 128 * 20 and network["rate"] > 0
    assert any(n.startswith("tokenisation alone") for n in names)
    assert not any(n.startswith("long stream") for n in names)  # --stream 0


def test_hand_labels_join_back_to_the_chat_text(tmp_path: Path, rule_scorer: object) -> None:
    from bot.lab.livechat import LABELS, evaluate_labels, load_labels, text_hash
    from bot.policy.sensitivity import Sensitivity
    from bot.runtime import build_policy
    from model.errors import DataNotFoundError
    from model.rules import RuleScorer

    assert isinstance(rule_scorer, RuleScorer)
    # the labels were measured on the r11 lists, the unshipped student list included (the
    # packaged default flags Korean labels at medium 10, 8 toxic, instead of 30, 22 toxic)
    rule_scorer = RuleScorer.from_data_dir(DATA_DIR)
    labelled = load_labels(DATA_DIR)
    assert len(labelled) == 1000 and sum(x.label for x in labelled) == 299
    assert {x.stratum for x in labelled} == {
        "rules-flag",
        "model-flag",
        "random",
        "rules-medium-all",
        "rules-high-only",
        "rules-r7-added",
        "rules-r10-rest",
    }
    assert {x.chat for x in labelled} == {"ko", "en", "en-esports"}
    # references only: source, line, a 16-hex-digit hash, lang, stratum, label; no chat text
    lines = LABELS.read_text().splitlines()
    assert lines[0].startswith("#") and "source\tline\tsha256\tlang\tstratum\tlabel" in lines
    data_rows = [r for r in lines if r and not r.startswith(("#", "source\t"))]
    assert all(
        re.fullmatch(r"[^\t]+\t\d+\t[0-9a-f]{16}\t(en|ko)\t[a-z0-9-]+\t[01]", r) for r in data_rows
    )
    by_sensitivity = {}
    for name in ("high", "medium"):
        settings = Settings(sensitivity=Sensitivity(name))
        policy = build_policy(settings, scorer_threshold=rule_scorer.threshold)
        by_sensitivity[name] = {r.chat: r for r in evaluate_labels(rule_scorer, policy, labelled)}
    high, medium = by_sensitivity["high"], by_sensitivity["medium"]
    # every message of the rules-flag stratum was sampled from the rules' own flags
    # (r9 no longer matches 개 and 임마 alone: high 107 -> 85 flags, the same 13 toxic), and
    # every r10 medium flag of the Korean and VTuber chats is labelled (+18 and +61)
    assert high["ko"].flagged >= 100 and high["ko"].precision < 0.25  # measured: 24/103
    assert high["ko"].true_flags == 24
    assert (medium["ko"].flagged, medium["ko"].true_flags) == (30, 22)  # a census: 73 %
    assert medium["ko"].recall > 0.8  # measured: 22/25
    assert (medium["en"].flagged, medium["en"].true_flags) == (39, 10)  # a census (r10: 64)
    # esports chat: every medium flag of rules r3 and every one r7 added was labelled (the
    # two `fer` = "for" that r4 allows were clean)
    assert high["en-esports"].flagged == 228 + 60 - 2 + 93
    assert medium["en-esports"].precision > 0.75  # measured: 195/253
    # r10 lets pass a caster told he has "no idea what the fuck" he is saying (toxic); issue
    # 29's targeting (bare `fuck you`, glue words between `you` and the insult, severity by
    # category) adds 8 flags, 2 of them toxic (193/245 before)
    assert medium["en-esports"].true_flags == 195
    # a log that is not the one labelled is refused, naming the line
    first = next(x for x in labelled if x.lang == "ko")
    bad = tmp_path / "labels.tsv"
    row = LABELS.read_text().splitlines()
    header = next(i for i, line in enumerate(row) if line.startswith("source\t"))
    cells = row[header + 1].split("\t")
    cells[2] = text_hash(first.message.text + " changed")
    bad.write_text("\n".join([row[header], "\t".join(cells)]) + "\n")
    with pytest.raises(DataNotFoundError, match=f"line {cells[1]} is not the labelled message"):
        load_labels(DATA_DIR, bad)
