"""``evaluate --moderation``: replaying chat with moderator actions through scorer and policy.

The logs here are hand-written in the data dir's formats (DATA.md §6), in a tmp data dir;
the scorer is the bundled network, the policy the bot's own.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.lab.agreement import (
    REPORT_AUDIT,
    Agreement,
    Report,
    Tally,
    agreement_markdown,
    load_events,
    load_report_verdicts,
    measure_agreement,
    replay_events,
    summarize,
)
from bot.lab.livechat import text_hash
from bot.lab.modlogs import botezlive_events, normvio_events
from bot.policy.policy import Policy, PolicyConfig, with_sensitivity
from model.errors import DataNotFoundError
from model.loading import load_scorer
from model.scorer import Score

T0 = 1_661_300_000.0

#: (seconds after T0, user, text or action)
CHAT = [
    (0, "viewer1", "good morning chat"),
    (3, "troll", "@bob you are a fucking idiot"),
    (5, "viewer2", "this game is so fun"),
    (9, "troll", "@bob shut up you stupid bitch"),
    (12, "viewer1", "KEKW"),
    (14, "troll", "ban"),
    (20, "racist", "go back to your country you fucking chink"),
    (24, "racist", "timeout"),
    (30, "chatty", "who is winning"),
    (40, "spammer", "buy followers at cheap dot com"),
    (44, "spammer", "ban"),
]


def _write_normvio(root: Path) -> None:
    folder = root / "twitch_normvio_en"
    folder.mkdir(parents=True)
    labels = {"troll": "HIB", "racist": "Discrimination", "spammer": "Advertisements"}
    last_text: dict[str, tuple[float, str]] = {}
    with gzip.open(folder / "events.jsonl.gz", "wt", encoding="utf-8") as events:
        for n, (dt, user, text) in enumerate(CHAT):
            action = text if text in ("ban", "timeout") else "message"
            row = {
                "channel": "somechan",
                "ts": T0 + dt,
                "user": user,
                "display_name": user,
                "text": None if action != "message" else text,
                "msg_id": None if action != "message" else f"m{n}",
                "action": action,
            }
            if action == "message":
                last_text[user] = (T0 + dt, text)
            events.write(json.dumps(row) + "\n")
    with gzip.open(folder / "labels.jsonl.gz", "wt", encoding="utf-8") as out:
        for user, category in labels.items():
            at, text = last_text[user]
            stamp = datetime.fromtimestamp(at, UTC)
            action = next(a for _, u, a in CHAT if u == user and a in ("ban", "timeout"))
            label = {f"step_{i}": category for i in (1, 2, 3)}
            row = {
                "id": f"x_{user}",
                "mod_action": action,
                "channel": "somechan",
                "user": user,
                "message": text,
                "timestamp": stamp.strftime("%Y-%m-%d %H:%M:%S"),
                "label": label,
            }
            out.write(json.dumps(row) + "\n")


@pytest.fixture()
def normvio_dir(tmp_path: Path) -> Path:
    _write_normvio(tmp_path)
    (tmp_path / "DATA.md").write_text("test data dir\n")
    return tmp_path


def test_normvio_reader_joins_actions_to_their_categories(normvio_dir: Path) -> None:
    events = list(normvio_events(normvio_dir))
    actions = [(e.login, e.action, e.category) for e in events if e.action != "message"]
    assert actions == [
        ("troll", "ban", "HIB"),
        ("racist", "timeout", "Discrimination"),
        ("spammer", "ban", "Advertisements"),
    ]
    assert sum(e.action == "message" for e in events) == 8


def test_agreement_counts_who_was_flagged_and_reported_before_the_action(
    normvio_dir: Path,
) -> None:
    scorer = load_scorer("bundled", None, normvio_dir / "cache")
    config = with_sensitivity(PolicyConfig(), "medium")
    (result,) = measure_agreement(
        scorer,
        lambda learning: Policy(config),
        load_events(normvio_dir, "normvio_en"),
        source="normvio_en",
        sensitivity="medium",
        learning=False,
        sample=5,
    )
    assert result.messages == 8
    target = result.row("HIB or Discrimination")
    assert target is not None and target.actioned == 2
    # both aimed insults at @bob: flagged, and the second reports (same person twice)
    hib = result.row("HIB")
    assert hib is not None and (hib.actioned, hib.flagged, hib.reported) == (1, 1, 1)
    assert hib.median_lead == 11.0  # first flag at +3 s, ban at +14 s
    # the racist insult is one message at once: a slur reports without repeats
    disc = result.row("Discrimination")
    assert disc is not None and (disc.flagged, disc.reported) == (1, 1)
    ads = result.row("Advertisements")
    assert ads is not None and ads.flagged == 0  # no link filter by default
    assert result.reported_users == result.reported_users_actioned == 2
    assert all(s.actioned for s in result.sample) and len(result.sample) == result.reports


def _audit(path: Path, rows: list[tuple[str, str, str, int]]) -> Path:
    lines = ["# hand verdicts", "source\tmsg_id\tsha256\tstratum\tlabel"]
    lines += [f"{src}\t{mid}\t{text_hash(text)}\ttest\t{label}" for src, mid, text, label in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_sampled_reports_carry_their_hand_verdicts(normvio_dir: Path, tmp_path: Path) -> None:
    events = load_events(normvio_dir, "normvio_en")
    scorer = load_scorer("bundled", None, normvio_dir / "cache")
    config = with_sensitivity(PolicyConfig(), "medium")
    # m6 is the racist insult, read as justified; m1 was never reported, so never sampled
    verdicts = load_report_verdicts(
        _audit(
            tmp_path / "audit.tsv",
            [
                ("normvio_en", "m6", CHAT[6][2], 1),
                ("normvio_en", "m1", CHAT[1][2], 0),
                ("botezlive_en", "m6", CHAT[6][2], 0),  # another source's m6
            ],
        )
    )
    (result,) = measure_agreement(
        scorer,
        lambda learning: Policy(config),
        events,
        source="normvio_en",
        sensitivity="medium",
        learning=False,
        sample=5,
        verdicts=verdicts,
    )
    read = {s.msg_id: s.justified for s in result.sample}
    assert read["m6"] is True and result.sample_read == result.sample_justified == 1
    assert all(v is None for k, v in read.items() if k != "m6")
    assert "| normvio_en | 1 of 2 | 1/1 (100.0 %) | 1/1 (100.0 %) |" in agreement_markdown([result])


def test_a_verdict_whose_text_hash_differs_is_a_clear_error(tmp_path: Path) -> None:
    # the data dir's copy of the log differs from the one read by hand
    tally = Tally(
        messages=1, reports=1, reported=[Report(("ch", "a"), 0.9, "you idiot", "r", "m6")]
    )
    wrong = load_report_verdicts(_audit(tmp_path / "bad.tsv", [("src", "m6", "other", 1)]))
    with pytest.raises(DataNotFoundError, match="m6 is not the one read by hand"):
        summarize(tally, source="src", scorer="s", sensitivity="medium", sample=1, verdicts=wrong)


def test_the_read_table_counts_justified_reports_on_actioned_users() -> None:
    a, b, c = ("ch", "a"), ("ch", "b"), ("ch", "c")
    tally = Tally(
        messages=3,
        reports=3,
        actioned={a: (T0, "HIB")},
        reported=[
            Report(a, 0.9, "you idiot", "r", "1"),  # justified, user actioned
            Report(b, 0.8, "stfu loser", "r", "2"),  # justified, never actioned
            Report(c, 0.7, "holy shit", "r", "3"),  # not justified
        ],
    )
    verdicts = {
        ("src", str(n)): (text_hash(t), j)
        for n, t, j in [(1, "you idiot", 1), (2, "stfu loser", 1), (3, "holy shit", 0)]
    }
    result = summarize(
        tally, source="src", scorer="s", sensitivity="medium", sample=3, verdicts=verdicts
    )
    assert (result.sample_read, result.sample_justified) == (3, 2)
    assert "| src | 3 of 3 | 2/3 (66.7 %) | 1/2 (50.0 %) |" in agreement_markdown([result])
    # unread reports show as unread, and no read table is written
    none = summarize(tally, source="src", scorer="s", sensitivity="medium", sample=3)
    assert none.sample_read == 0 and "read by hand" not in agreement_markdown([none])


@pytest.mark.parametrize(
    ("rows", "error"),
    [
        (["normvio_en\tm1\tabc\tx\t1"], ":3: not source"),  # short hash
        (["normvio_en\tm1\t" + "A" * 16 + "\tx\t1"], ":3: not source"),  # upper-case
        (["normvio_en\tm1\t" + "a" * 16 + "\t\t1"], ":3: not source"),  # no stratum
        (["normvio_en\tm1\t" + "a" * 16 + "\tx\t2"], ":3: not source"),  # label
        (["normvio_en\tm1\t" + "a" * 16 + "\tx\t1"] * 2, ":4: normvio_en message m1 has"),
    ],
)
def test_report_verdicts_file_is_checked(tmp_path: Path, rows: list[str], error: str) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("# comment\nsource\tmsg_id\tsha256\tstratum\tlabel\n" + "\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=error):
        load_report_verdicts(bad)


def test_shipped_report_verdicts() -> None:
    assert load_report_verdicts(Path("/nonexistent/audit.tsv")) == {}
    # the shipped verdicts: references only, one per message, labels 0/1
    shipped = load_report_verdicts(REPORT_AUDIT)
    assert len(shipped) >= 190
    assert {label for _, label in shipped.values()} == {0, 1}


def test_a_flag_after_the_action_does_not_count_as_before(normvio_dir: Path) -> None:
    events = load_events(normvio_dir, "normvio_en")
    # the same insult, but the user says it only after the ban
    moved = [e for e in events if not (e.login == "troll" and e.action == "message")]
    ban = next(i for i, e in enumerate(moved) if e.login == "troll")
    late = dataclasses.replace(events[1], sent_at=moved[ban].sent_at + 5)
    moved.insert(ban + 1, late)
    scores = [None if e.action != "message" else Score(0.99, ("insult",)) for e in moved]
    tally = replay_events(Policy(PolicyConfig()), moved, scores)
    result = summarize(tally, source="x", scorer="fixed", sensitivity="high")
    hib = result.row("HIB")
    assert hib is not None and (hib.flagged, hib.reported) == (0, 0)


def test_botezlive_log_lines(tmp_path: Path) -> None:
    log = tmp_path / "twitch_modbot_botezlive_en" / "tests" / "data"
    log.mkdir(parents=True)
    (log / "test_chat.log").write_text(
        "# Log started: 2022-07-07 05:12:45 -0700\n"
        "<%+FurtherCascade> BANG\n<Viewer_1> hi\nBAN: viewer_1 (600s)\n"
        "DELETED: Other (some text)\nBAN: other\nMOD_ACTION: mod (ban other)\n"
    )
    events = [(e.login, e.action, e.sent_at) for e in botezlive_events(tmp_path)]
    assert events == [
        ("furthercascade", "message", 2.0),
        ("viewer_1", "message", 3.0),
        ("viewer_1", "timeout", 4.0),
        ("other", "delete", 5.0),
        ("other", "ban", 6.0),
    ]


def test_missing_log_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="twitch_normvio_en"):
        load_events(tmp_path, "normvio_en")


def test_cli_writes_json_and_markdown(normvio_dir: Path, tmp_path: Path) -> None:
    doc = tmp_path / "bench.md"
    doc.write_text("# x\n")
    env = {
        "PATH": "/usr/bin:/bin",
        "CHATWARDEN_DATA_DIR": str(normvio_dir),
        "CHATWARDEN_MODEL_URI": "bundled",
        "CHATWARDEN_MODEL_CACHE": str(tmp_path / "cache"),
    }
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "evaluate",
            "--moderation",
            "--source",
            "normvio_en",
            "--json",
            "--sample",
            "3",
            "--write",
            str(doc),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    figures, without = json.loads(run.stdout)  # learning, then the same run without
    assert (figures["learning"], without["learning"]) == (True, False)
    assert figures["messages"] == 8 and figures["reported_users_actioned"] == 2
    assert without["sample"] == []  # the reports to read are the first run's
    # the reports to read come with --json too, each saying whether its user was actioned
    assert len(figures["sample"]) == 2
    assert all(s["actioned"] and s["text"] and s["reason"] for s in figures["sample"])
    # the fixture's messages were never read by hand: unread, and counted as such
    assert sorted(s["msg_id"] for s in figures["sample"]) == ["m3", "m6"]
    assert all(s["justified"] is None for s in figures["sample"])
    assert figures["sample_read"] == figures["sample_justified"] == 0
    written = doc.read_text()
    assert "--source normvio_en --sample 3 --write" in written
    assert "chatwarden evaluate --moderation" in written
    assert (
        "| normvio_en (learning) | HIB or Discrimination | 2 | 2/2 (100.0 %) | 2/2 (100.0 %) |"
        in written
    )
    assert "actions the channel had seen before" in written  # the learning curve
    bad = subprocess.run(
        [sys.executable, "-m", "bot", "evaluate", "--moderation", "--source", "nope"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert bad.returncode != 0 and "unknown --source nope" in bad.stderr


def test_a_replay_learns_from_each_action_as_it_happened() -> None:
    """Four users timed out for naming another streamer: the fifth is caught before the
    action with learning, not without; a flagged user never actioned counts against the
    share actioned later; the curve and second half count by actions seen."""
    from bot.lab.modlogs import ChatEvent
    from bot.norms import LearnedNorms

    events: list[ChatEvent] = []
    at = T0
    for n in range(5):
        for i in range(60):  # ordinary chat between the rule breakers
            text = ("gg", "nice one", "lol what", "good morning chat")[i % 4]
            events.append(ChatEvent("x", "c", f"viewer{i}", at, "message", text, f"v{n}-{i}"))
            at += 1
        events.append(ChatEvent("x", "c", f"fan{n}", at, "message", "xqc is better", f"f{n}"))
        events.append(
            ChatEvent(
                "x", "c", f"fan{n}", at + 2, "timeout", category="Mentioning other broadcasters"
            )
        )
        at += 10
    # a user who says it and is never actioned: flagged, counted against precision
    events.append(ChatEvent("x", "c", "unpunished", at, "message", "xqc is better", "u"))
    scores = [None if e.action != "message" else Score(0.0) for e in events]

    def run(learning: bool) -> Agreement:
        policy = Policy(PolicyConfig())
        policy.norms = LearnedNorms() if learning else None
        tally = replay_events(policy, events, scores)
        return summarize(tally, source="x", scorer="zero", sensitivity="medium", learning=learning)

    learned, alone = run(True), run(False)
    every = learned.row("every action")
    assert every is not None and (every.actioned, every.flagged) == (5, 2)  # fan3 and fan4
    assert alone.row("every action") == dataclasses.replace(every, flagged=0, median_lead=None)
    assert (learned.flagged_users, learned.flagged_users_actioned) == (3, 2)
    assert [f.category for f in learned.flag_categories] == ["learned term"]
    assert [(p.name, p.actioned, p.flagged) for p in learned.curve] == [
        ("0–9", 5, 2),
        ("10–29", 0, 0),
        ("30–99", 0, 0),
        ("100+", 0, 0),
    ]
    assert learned.second_half.channels == 0  # no channel with 50 actioned users here
