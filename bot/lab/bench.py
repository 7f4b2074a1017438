"""``chatwarden bench``: throughput of the parser, the scorer and the whole pipeline.

Everything is measured in one process, on real chat from the data dir, so the figures
can be compared with each other; absolute numbers move by tens of percent between runs
on shared machines.
"""

from __future__ import annotations

import asyncio
import io
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path

from bot.app import run_replay
from bot.jsonl import default_workers, score_lines
from bot.lab.loadtest import LoadResult, load_test
from bot.replay import read_chat_log
from bot.runtime import load_configured_scorer
from bot.settings import Settings
from bot.twitch.events import to_event
from bot.twitch.irc import parse_line
from model.bundle import Bundle, load_bundle
from model.cache import CachedScorer
from model.errors import DataNotFoundError
from model.loading import BUNDLED_DIR
from model.networks import ARCHS, NetworkConfig, build_network, for_inference
from model.normalize import normalize
from model.scorer import Scorer

__all__ = [
    "DEFAULT_LIVE_RATES",
    "BenchResult",
    "bench_figures",
    "bench_table",
    "default_logs",
    "live_table",
    "run_bench",
    "run_load_tests",
]

#: The fixed rates of the live-bot runs (lines/s): about all of Twitch's chat in 2020, and
#: the sustained rate the pipeline is meant to carry with a p99 under 100 ms.
DEFAULT_LIVE_RATES = (2000.0, 5000.0)

_TAGS = (
    "@badge-info=subscriber/8;badges=subscriber/6,premium/1;client-nonce=4b6b2c51e0e84e5aa0"
    "c4d2b6c1d5f0e7;color=#0000FF;display-name={login};emotes=;first-msg=0;flags=;"
    "id=6e9a2c1f-3c0b-4d3a-9f5e-{n:012d};mod=0;returning-chatter=0;room-id=12345;"
    "subscriber=1;tmi-sent-ts=1700000000000;turbo=0;user-id={n};user-type="
)


@dataclass(frozen=True, slots=True)
class BenchResult:
    name: str
    items: int
    seconds: float
    unit: str

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0


def default_logs(data_dir: Path) -> list[Path]:
    """A Korean Chatty log and an English raw IRC log from the data dir
    (:func:`model.chatlogs.bench_logs`), checked to be there."""
    from model.chatlogs import bench_logs

    logs = bench_logs(data_dir)
    for path in logs:
        if not path.is_file():
            raise DataNotFoundError(f"benchmark chat log missing: {path}")
    return logs


def _best_of(repeats: int, func: Callable[[], int]) -> tuple[int, float]:
    times = []
    items = 0
    for _ in range(repeats):
        started = time.perf_counter()
        items = func()
        times.append(time.perf_counter() - started)
    return items, min(times)


def run_bench(
    settings: Settings, logs: list[Path], repeats: int = 3, stream: int = 0
) -> list[BenchResult]:
    """Every row but the live bot's; with ``stream``, also ``chatwarden score`` on that many
    lines of all the data dir's chat logs, interleaved."""
    messages = [m for path in logs for m in read_chat_log(path)]
    lines = [
        _TAGS.format(login=m.login, n=i)
        + f" :{m.login}!{m.login}@{m.login}.tmi.twitch.tv PRIVMSG #{m.channel} :{m.text}"
        for i, m in enumerate(messages)
    ]
    results = []

    def parse_all() -> int:
        for line in lines:
            parse_line(line)
        return len(lines)

    def parse_and_type() -> int:
        for line in lines:
            to_event(parse_line(line), 0.0)
        return len(lines)

    n, t = _best_of(repeats, parse_all)
    results.append(BenchResult("IRC parse (tagged PRIVMSG, 1 core)", n, t, "lines/s"))
    n, t = _best_of(repeats, parse_and_type)
    results.append(BenchResult("IRC parse + ChatMessage (1 core)", n, t, "lines/s"))

    scorer = load_configured_scorer(settings)
    texts = [m.text for m in messages]

    def cold() -> None:  # each repeat starts with empty text and word caches
        normalize.cache_clear()
        getattr(scorer, "clear_word_cache", lambda: None)()

    def score_all(scorer: Scorer, batch: int = 128, texts: list[str] = texts) -> int:
        cold()
        for start in range(0, len(texts), batch):
            scorer.score(texts[start : start + batch])
        return len(texts)

    n, t = _best_of(repeats, lambda: score_all(scorer))
    results.append(BenchResult(f"scorer {scorer.version} (batches of 128)", n, t, "msg/s"))
    cached: list[CachedScorer] = []

    def with_cache(batch: int, texts: list[str] = texts) -> int:
        cached.append(CachedScorer(scorer, settings.score_cache or 65_536))
        return score_all(cached[-1], batch, texts)

    for batch in (128, 2048):
        n, t = _best_of(repeats, lambda: with_cache(batch))  # noqa: B023
        name = (
            f"scorer {scorer.version} + verdict cache (batches of {batch}; "
            f"{cached[-1].hit_rate:.0%} hits)"
        )
        results.append(BenchResult(name, n, t, "msg/s"))

    # what `chatwarden score` does: JSON lines in, remembered output lines, JSON lines out
    lines_in = [json.dumps({"text": t}, ensure_ascii=False) for t in texts]

    def score_command(workers: int, lines: list[str] = lines_in) -> int:
        cold()
        scored, _ = score_lines(
            scorer,
            scorer.threshold,
            lines,
            io.StringIO(),
            cache=settings.score_cache or 65_536,
            workers=workers,
        )
        return scored

    # in this process (torch's own threads), then as `chatwarden score` runs by default
    for workers in sorted({1, default_workers()}):
        n, t = _best_of(repeats, lambda: score_command(workers))  # noqa: B023
        name = "chatwarden score: JSON lines in and out (line cache, batches of 2048, " + (
            "in-process)" if workers == 1 else f"{workers} forked workers)"
        )
        results.append(BenchResult(name, n, t, "msg/s"))

    if stream and settings.data_dir is not None:
        from model.chatlogs import iter_chat

        # every chat log of the data dir, a block of each in turn: many channels at once
        chat = [text for _, text in islice(iter_chat(settings.data_dir), stream)]
        long_in = [json.dumps({"text": t}, ensure_ascii=False) for t in chat]
        distinct = len(set(chat))
        # as the bot scores: batches of 128 through the verdict cache
        n, t = _best_of(repeats, lambda: with_cache(128, chat))
        name = (
            f"long stream: scorer + verdict cache on {n:,} lines of every chat log "
            f"(batches of 128; {cached[-1].hit_rate:.0%} hits)"
        )
        results.append(BenchResult(name, n, t, "msg/s"))
        for workers in sorted({1, default_workers()}):
            n, t = _best_of(repeats, lambda: score_command(workers, long_in))  # noqa: B023
            where = "in-process" if workers == 1 else f"{workers} forked workers"
            name = (
                f"long stream: chatwarden score on {n:,} lines of every chat log "
                f"({distinct / max(1, n):.0%} distinct; {where})"
            )
            results.append(BenchResult(name, n, t, "msg/s"))

    results += _network_rows(getattr(scorer, "bundle", None), texts, repeats)

    replay_times = []
    count = 0
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            local = settings.with_overrides(db=Path(tmp) / "bench.db")
            summary = asyncio.run(run_replay(local, logs))
            count = summary.scored
            replay_times.append(summary.seconds)
    results.append(
        BenchResult(
            "pipeline: replay → score → SQLite (fresh DB)", count, min(replay_times), "msg/s"
        )
    )
    return results


def _network_rows(bundle: Bundle | None, texts: list[str], repeats: int) -> list[BenchResult]:
    """The neural scorer's parts (the bundled model's when the scorer is not neural):
    tokenisation alone, and each network alone at the original project's setting
    (128 messages x 64 tokens), 20 batches each."""
    import torch

    if bundle is None:
        bundle = load_bundle(BUNDLED_DIR)
    norm = [normalize(t) for t in texts[: 128 * 20]]
    batches = [norm[i : i + 128] for i in range(0, len(norm), 128)]

    def tokenise() -> int:
        for batch in batches:
            bundle.tokenizer.encode_batch_fast(batch)
        return len(norm)

    n, t = _best_of(repeats, tokenise)
    rows = [BenchResult("tokenisation alone (encode_batch_fast of 128)", n, t, "msg/s")]
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(2, bundle.config.vocab_size, (128, 64), generator=generator)
    mask = torch.ones_like(ids, dtype=torch.bool)
    for arch in ARCHS:
        # the bundled network itself for its own architecture; the others with their
        # default shapes (timing does not depend on the weights)
        if arch == bundle.config.arch:
            network = for_inference(bundle.network)  # as the scorer runs it
        else:
            network = build_network(NetworkConfig(arch, bundle.config.vocab_size)).eval()

        def forward(network: torch.nn.Module = network) -> int:
            with torch.inference_mode():
                for _ in range(20):
                    network(ids, mask)
            return 128 * 20

        forward()  # warm-up
        n, t = _best_of(repeats, forward)
        rows.append(BenchResult(f"{arch} network alone, 128 x 64 tokens", n, t, "msg/s"))
    return rows


def run_load_tests(
    settings: Settings, logs: list[Path], rates: Sequence[float] = DEFAULT_LIVE_RATES
) -> list[LoadResult]:
    """The logs replayed into a fresh ``chatwarden run`` process at each of ``rates``
    lines/s, then flat out."""
    chat = [(m.login, m.text) for path in logs for m in read_chat_log(path)]
    return [asyncio.run(load_test(settings, chat, r)) for r in (*rates, None)]


# --- what `chatwarden bench` shows --------------------------------------------------------


def bench_figures(results: Sequence[BenchResult], live: Sequence[LoadResult]) -> list[object]:
    """Every row as a JSON object with its rate; the live bot's rows also with lines lost."""
    return [{**asdict(r), "rate": r.rate} for r in results] + [
        {"name": "live bot", **asdict(r), "rate": r.rate, "lost": r.lost} for r in live
    ]


def bench_table(results: Sequence[BenchResult]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the in-process measurements; ms per 128 is the cost of one
    scorer batch, the unit the pipeline's latency budget is counted in."""
    return (
        ["benchmark", "items", "seconds", "rate", "ms per 128"],
        [
            [
                r.name,
                f"{r.items:,}",
                f"{r.seconds:.3f}",
                f"{r.rate:,.0f} {r.unit}",
                f"{128_000 / r.rate:.1f}" if r.rate else "-",
            ]
            for r in results
        ],
    )


def live_table(live: Sequence[LoadResult]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the live-bot runs, one per offered rate."""
    return (
        [
            "offered",
            "sent",
            "stored",
            "lost",
            "sustained",
            "p50 ms",
            "p99 ms",
            "max ms",
            "ready",
            "peak RSS",
        ],
        [
            [
                f"{r.target_rate:,.0f}/s" if r.target_rate else "flat out",
                f"{r.sent:,}",
                f"{r.stored:,}",
                f"{r.lost:,}",
                f"{r.rate:,.0f} msg/s",
                f"{r.p50_ms:.1f}",
                f"{r.p99_ms:.1f}",
                f"{r.max_ms:.1f}",
                f"{r.ready_s:.2f} s",
                f"{r.peak_rss_mb:.0f} MB",
            ]
            for r in live
        ],
    )
