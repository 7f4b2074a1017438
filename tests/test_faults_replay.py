"""Faults of ``chatwarden replay`` as a user meets them, through the installed console script:
a truncated or corrupt ``.gz`` among good logs, and SIGTERM in the middle of a long replay.

Inputs are made in tmp at test time (truncated copies of data-dir logs, hand-written lines);
every subprocess runs under a timeout and is killed if it outlives it.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.twitch.events import synthetic_msg_id
from model.chatlogs import ChatLogError, read_text_log
from tests.conftest import DATA_DIR, needs_data

BOOSTCAMP = DATA_DIR / "twitch_chat_ko_boostcamp" / "twitch"
CHATWARDEN = Path(sys.executable).with_name("chatwarden")
BOUND_S = 90.0  # a replay of these inputs takes ~8 s on 2 shared cores; a hang never ends


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATWARDEN_")}
    return {**env, "CHATWARDEN_LOG_LEVEL": "WARNING", **extra}


def _replay(tmp: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    db = tmp / "t.db"
    cmd = [str(CHATWARDEN), "replay", "--db", str(db), "--json", *map(str, files)]
    # run() kills the child when the timeout expires, so a hang fails the test, not CI
    return subprocess.run(cmd, capture_output=True, text=True, timeout=BOUND_S, env=_env(), cwd=tmp)


def _stored(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM seen_messages").fetchone()[0])


def _lines(path: Path) -> int:
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
        return sum(1 for _ in handle)


def _write_gz(path: Path, lines: list[str]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))


def _chatty(n: int, prefix: str) -> list[str]:
    head = ["# Log started: 2021-12-10 00:00:00 +0900"]
    stamps = [f"{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}" for i in range(n)]
    return head + [f"[2021-12-10 {t}] <u{i} (u{i})> {prefix} {i}" for i, t in enumerate(stamps)]


@needs_data
def test_truncated_gz_among_good_logs_is_named_and_the_rest_stored(tmp_path: Path) -> None:
    """A big good log then a .gz cut short (a copy interrupted mid-transfer): before, the
    replay printed nothing and never ended (the feeder's EOFError cancelled the pipeline,
    whose scoring stage then waited for good on a full queue nobody read, deaf to SIGTERM)."""
    good = tmp_path / "#109ace.log.gz"
    shutil.copyfile(BOOSTCAMP / "#109ace.log.gz", good)
    source = (BOOSTCAMP / "#ddahyoni.log.gz").read_bytes()
    trunc = tmp_path / "#ddahyoni.log.gz"
    trunc.write_bytes(source[: len(source) * 3 // 7])

    started = time.monotonic()
    done = _replay(tmp_path, good, trunc)
    elapsed = time.monotonic() - started

    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if str(trunc) in line]
    assert len(errors) == 1, done.stderr  # one line names the file, with how far it was read
    assert "truncated" in errors[0] and "after line " in errors[0]
    read = int(errors[0].split("after line ")[1].split(":")[0])
    assert read > 0
    assert "Traceback" not in done.stderr
    assert "1 of 2 file(s)" in done.stderr
    summary = json.loads(done.stdout)
    assert summary["failed"] == [errors[0].removeprefix("chatwarden: ")]
    # the good file whole and the truncated file up to the damage are stored
    assert summary["lines"] == _lines(good) + read
    assert _stored(tmp_path / "t.db") == summary["scored"] == summary["messages"] > read
    assert elapsed < BOUND_S


def test_corrupt_and_not_gzip_files_do_not_stop_the_good_ones(tmp_path: Path) -> None:
    """A .gz with damaged deflate data first, a "gz" that is no gzip at all, then a good
    log: before, the first error ended the replay with a traceback and nothing stored."""
    corrupt = tmp_path / "#aaa.log.gz"
    _write_gz(corrupt, _chatty(3000, "corrupt file line"))
    data = bytearray(corrupt.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)  # zeroed block mid-stream
    corrupt.write_bytes(bytes(data))
    not_gzip = tmp_path / "#bbb.log.gz"
    not_gzip.write_text("[2021-12-10 20:00:00] <x (x)> plain text, not gzip\n", encoding="utf-8")
    good = tmp_path / "#ccc.log.gz"
    _write_gz(good, _chatty(500, "good file line"))

    done = _replay(tmp_path, corrupt, not_gzip, good)

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    named = [line for line in done.stderr.splitlines() if "cannot read chat log" in line]
    assert len(named) == 2, done.stderr
    assert str(corrupt) in named[0] and str(not_gzip) in named[1]
    assert "at its start" in named[1]
    assert "2 of 3 file(s)" in done.stderr
    summary = json.loads(done.stdout)
    with sqlite3.connect(tmp_path / "t.db") as conn:
        ids = {row[0] for row in conn.execute("SELECT msg_id FROM seen_messages")}
    assert summary["scored"] == len(ids) >= 500
    # every line of the good file is stored (ids come from the file name and line number)
    assert {synthetic_msg_id(good.name, n) for n in range(2, 502)} <= ids


@needs_data
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_a_long_replay_and_keeps_what_was_scored(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """SIGTERM (or Ctrl-C's SIGINT) ~2 s into a long replay (small batches, so it is far
    from done): the process says it was interrupted and exits 130 within seconds, and the
    database holds every message it scored. The queue is kept short: what was queued is
    still scored and stored after the signal, and 10,000 queued messages (the default) in
    batches of 4 took 9-10.5 s to drain on a quiet 2-core machine."""
    log = BOOSTCAMP / "#yapyap30.log.gz"
    db = tmp_path / "t.db"
    cmd = [str(CHATWARDEN), "replay", "--db", str(db), "--json", str(log)]
    env = _env(CHATWARDEN_BATCH_MAX_SIZE="4", CHATWARDEN_QUEUE_SIZE="400")
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path
    ) as proc:
        try:
            deadline = time.monotonic() + 60
            while not db.exists() and time.monotonic() < deadline:  # started for real
                time.sleep(0.1)
            time.sleep(2.0)
            assert proc.poll() is None, "the replay ended before the signal; use a longer log"
            sent = time.monotonic()
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=30)
            stopped_in = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 130, err
    assert stopped_in < 10, stopped_in
    assert "Traceback" not in err and "replay interrupted" in err
    summary = json.loads(out)
    assert summary["failed"] == [] and summary["interrupted"] is True
    assert 0 < summary["scored"] == summary["messages"] < _lines(log)
    assert _stored(db) == summary["scored"]


def test_read_text_log_yields_the_good_lines_then_names_the_damage(tmp_path: Path) -> None:
    path = tmp_path / "#chan.log.gz"
    _write_gz(path, _chatty(20000, "x" * 40))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    got = []
    with pytest.raises(ChatLogError) as info:
        for number, _, _ in read_text_log(path):
            got.append(number)
    assert got and info.value.line == got[-1] == len(got)
    assert info.value.path == path
    assert str(path) in str(info.value) and f"after line {len(got)}" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_not_read_for_ever(tmp_path: Path) -> None:
    fifo = tmp_path / "#chan.log"
    os.mkfifo(fifo)
    with pytest.raises(ChatLogError, match="not a regular file"):
        next(iter(read_text_log(fifo)))
