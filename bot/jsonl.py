"""The JSON-lines protocol of ``chatwarden score``: ``{"text": ...}`` per line in, one
``{"score", "flagged", "toxic", "labels", "why"}`` (or ``{"error"}``) per line out, same
order: exactly one output line per input line.

With a policy, ``flagged`` is the bot's decision (the policy at the configured
sensitivity, for the text as a single message of a new user in any channel without its
own sensitivity) and ``toxic`` the scorer's own call (score at the flag threshold);
without one (the library default), ``flagged`` is the scorer's call and there is no
``toxic``.

Lines are read in batches of ``batch_size`` and scored in one scorer call each; a line
that is not a JSON object with a string ``text``, or not valid UTF-8, gets an ``error``
object in its place, and a blank line gets :data:`BLANK` (``"score": null``), so the
output always lines up with the input.

Chat repeats itself (about 45 % of real chat lines repeat an earlier one exactly), and a
scorer's verdict depends on the text alone, so the output line of each of the last
``cache`` distinct input lines is remembered: a repeated line is answered without being
parsed, scored or serialised again, with the very line the scorer's verdict gave the
first time.

With ``workers`` > 1, large batches of new lines are scored by that many forked copies of
the process (each with one torch thread), one share each: the per-message Python work
(normalising, tokenising, writing verdicts) is then spread over the cores too. Small
batches, and a live pipe read line by line, are scored in this process.
"""

from __future__ import annotations

import gc
import json
import logging
import multiprocessing
import os
import re
import signal
import sys
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType
from typing import Any, TextIO

from bot.policy.policy import Policy
from bot.twitch.events import ChatMessage
from model.scorer import Score, Scorer, explain_missing

__all__ = ["BLANK", "default_workers", "score_lines", "verdicts"]

_log = logging.getLogger(__name__)

#: Fewer new lines than this in a batch are scored in this process: a share of a few
#: hundred lines no longer pays for the round trip to a worker.
PARALLEL_MIN = 512

# `{"text": "..."}` with no escapes and no control characters: what json.loads would
# return is the text between the quotes, so it is taken without the parser.
_PLAIN = re.compile(r'\{"text": ?"([^"\\\x00-\x1f]*)"\}')


#: The output line of a blank input line (with a policy; without one, no ``toxic``).
BLANK = '{"score": null, "flagged": false, "toxic": false, "labels": [], "why": []}'
_BLANK_PLAIN = '{"score": null, "flagged": false, "labels": [], "why": []}'


def _output(score: Score, flagged: bool, toxic: bool | None) -> str:
    """``json.dumps`` of the verdict object, written out (identical bytes, ~5× faster)."""
    labels = json.dumps(list(score.labels), ensure_ascii=False) if score.labels else "[]"
    why = json.dumps(list(score.evidence), ensure_ascii=False) if score.evidence else "[]"
    flag = "true" if flagged else "false"
    tox = "" if toxic is None else f', "toxic": {"true" if toxic else "false"}'
    return (
        f'{{"score": {round(score.probability, 6)!r}, "flagged": {flag}{tox}, '
        f'"labels": {labels}, "why": {why}}}'
    )


def _message(text: str) -> ChatMessage:
    """``text`` as the bot would see it from a new user (no badges) in a channel with the
    default sensitivity."""
    return ChatMessage(msg_id="", channel="", login="score", display_name="", text=text, sent_at=0)


def verdicts(
    scorer: Scorer, threshold: float, texts: Sequence[str], policy: Policy | None = None
) -> list[str]:
    """The output line of each text: its score, decision, labels and, for a toxic text,
    what drove it (the rules' matched terms, or a network's occlusion). With ``policy``,
    ``flagged`` is its decision and ``toxic`` the scorer's call at ``threshold``."""
    scored = explain_missing(
        scorer, texts, scorer.score(texts), lambda _, s: s.probability >= threshold
    )
    if policy is None:
        return [_output(s, s.probability >= threshold, None) for s in scored]
    return [
        _output(
            s,
            policy.flags(_message(t), s.probability, s.evidence, labels=s.labels),
            s.probability >= threshold,
        )
        for t, s in zip(texts, scored, strict=True)
    ]


def default_workers() -> int:
    """One worker per CPU this process may run on (1 where processes cannot fork)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1


_WORKER: tuple[Scorer, float, Policy | None] | None = None


def _start_worker(scorer: Scorer, threshold: float, policy: Policy | None) -> None:
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if "torch" in sys.modules:  # one torch thread per worker: the workers share the cores
        sys.modules["torch"].set_num_threads(1)
    _WORKER = (scorer, threshold, policy)


def _work(texts: list[str]) -> list[str]:
    assert _WORKER is not None, "not a score worker"
    scorer, threshold, policy = _WORKER
    return verdicts(scorer, threshold, texts, policy)


class _Verdicts:
    """:func:`verdicts`, in this process or, for large batches, shared among forked
    workers (started at the first large batch, stopped on exit)."""

    def __init__(
        self, scorer: Scorer, threshold: float, workers: int, policy: Policy | None
    ) -> None:
        self.scorer, self.threshold, self.workers = scorer, threshold, workers
        self.policy = policy
        self.blank = _BLANK_PLAIN if policy is None else BLANK
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> _Verdicts:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def __call__(self, texts: list[str]) -> list[str]:
        n = self.workers
        if n < 2 or len(texts) < PARALLEL_MIN:
            return verdicts(self.scorer, self.threshold, texts, self.policy)
        if self._pool is None:
            # fork: the workers start with the loaded scorer, nothing is pickled
            self._pool = ProcessPoolExecutor(
                n,
                multiprocessing.get_context("fork"),
                initializer=_start_worker,
                initargs=(self.scorer, self.threshold, self.policy),
            )
        out = [""] * len(texts)
        try:
            # interleaved shares: each worker gets a like mix of short and long lines
            for k, rows in enumerate(self._pool.map(_work, [texts[k::n] for k in range(n)])):
                out[k::n] = rows
        except BrokenProcessPool:
            # a worker died (killed, out of memory): nothing is lost, the rest is scored here
            _log.warning("a score worker died; scoring in this process from now on")
            self._pool.shutdown(cancel_futures=True)
            self._pool, self.workers = None, 1
            return verdicts(self.scorer, self.threshold, texts, self.policy)
        return out


def score_lines(
    scorer: Scorer,
    threshold: float,
    lines: Iterable[str | bytes],
    out: TextIO,
    batch_size: int = 2048,
    cache: int = 65_536,
    workers: int = 1,
    policy: Policy | None = None,
) -> tuple[int, int]:
    """Score every JSON line of ``lines`` into ``out``; return (scored, bad lines).

    ``lines`` may be bytes (stdin's raw buffer): each line is decoded as UTF-8 on its own,
    so an invalid byte is an ``error`` line for that line only, whatever the locale.

    Python's cyclic garbage collector is paused meanwhile (and in the workers): scoring
    makes no reference cycles (tested), so reference counting frees everything, and the
    collector's passes over the scorer's caches cost about a sixth of the time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with _Verdicts(scorer, threshold, workers, policy) as score:
            return _score_lines(score, lines, out, batch_size, cache)
    finally:
        if was_enabled:
            gc.enable()


def _error(number: int, message: str) -> str:
    return json.dumps({"error": f"line {number}: {message}"}, ensure_ascii=False)


def _score_lines(
    score: _Verdicts, lines: Iterable[str | bytes], out: TextIO, batch_size: int, cache: int
) -> tuple[int, int]:
    # input line → output line, oldest first; an OrderedDict, because dropping a plain
    # dict's first key again and again makes each next(iter()) step over the deleted
    # slots before it (300k lines: 3.5 s of 13 s)
    memo: OrderedDict[str, str] = OrderedDict()
    pending: list[tuple[str, str | None]] = []  # (line, its text; None: the output itself)
    counts = [0, 0]  # scored, bad

    def flush() -> None:
        # each distinct new line once
        fresh = {key: text for key, text in pending if text is not None and key not in memo}
        memo.update(zip(fresh, score(list(fresh.values())), strict=True))
        rows = [memo[key] if text is not None else key for key, text in pending]
        out.write("\n".join(rows) + "\n")
        out.flush()
        counts[0] += sum(1 for _, text in pending if text is not None)
        pending.clear()
        for _ in range(len(memo) - cache):
            memo.popitem(last=False)

    def bad(number: int, message: str) -> None:
        pending.append((_error(number, message), None))
        counts[1] += 1

    for number, raw in enumerate(lines, 1):
        if isinstance(raw, bytes):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad(number, f"not UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start}")
                if len(pending) >= batch_size:
                    flush()
                continue
        else:
            line = raw
        key = line.strip()
        if not key:
            pending.append((score.blank, None))  # a blank line keeps its place
        elif key in memo:
            pending.append((key, ""))  # answered from the memo at the next flush
        elif plain := _PLAIN.fullmatch(key):
            pending.append((key, plain.group(1)))
        else:
            try:
                obj: Any = json.loads(key)
                if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                    raise ValueError('expected an object with a string "text"')
                pending.append((key, obj["text"]))
            except ValueError as exc:
                bad(number, str(exc))
        if len(pending) >= batch_size:
            flush()
    if pending:
        flush()
    return counts[0], counts[1]
