"""``chatwarden bench``: throughput of the parser, the scorer and the whole pipeline.

Everything is measured in one process, on real chat from the data dir, so the figures
can be compared with each other; absolute numbers move by tens of percent between runs
on shared machines.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.app import run_replay
from bot.replay import read_chat_log
from bot.settings import Settings
from bot.twitch.events import to_event
from bot.twitch.irc import parse_line
from model.errors import DataNotFoundError
from model.scorer import load_scorer

__all__ = ["BenchResult", "default_logs", "run_bench"]

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
    """A Korean Chatty log and an English raw IRC log from the data dir."""
    logs = [
        data_dir / "twitch_chat_ko_boostcamp" / "twitch" / "#yd0821.log.gz",
        data_dir / "twitch_chat_en_madcookie" / "chat.log",
    ]
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


def run_bench(settings: Settings, logs: list[Path], repeats: int = 3) -> list[BenchResult]:
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

    scorer = load_scorer(settings.model_uri, settings.data_dir, settings.model_cache_dir)
    texts = [m.text for m in messages]

    def score_all() -> int:
        for start in range(0, len(texts), 128):
            scorer.score(texts[start : start + 128])
        return len(texts)

    from model.normalize import normalize

    normalize.cache_clear()
    n, t = _best_of(1, score_all)
    results.append(BenchResult(f"scorer {scorer.version}, cold (batches of 128)", n, t, "msg/s"))
    n, t = _best_of(repeats, score_all)
    results.append(BenchResult(f"scorer {scorer.version}, warm cache", n, t, "msg/s"))

    if hasattr(scorer, "bundle"):
        results += _network_rows(scorer, texts, repeats)

    replay_times = []
    count = 0
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            local = settings.with_overrides(db=Path(tmp) / "bench.db")
            summary = asyncio.run(run_replay(local, logs))
            count = summary.scored
            replay_times.append(summary.seconds)
    results.append(
        BenchResult("pipeline: replay → score → SQLite (fresh DB)", count, min(replay_times),
                    "msg/s")
    )  # fmt: skip
    return results


def _network_rows(scorer: object, texts: list[str], repeats: int) -> list[BenchResult]:
    """The neural scorer's parts: tokenisation alone, and the network alone at the
    original project's setting (128 messages x 64 tokens), 20 batches each."""
    import torch

    from model.normalize import normalize

    bundle = scorer.bundle  # type: ignore[attr-defined]
    norm = [normalize(t) for t in texts[: 128 * 20]]
    batches = [norm[i : i + 128] for i in range(0, len(norm), 128)]

    def tokenise() -> int:
        for batch in batches:
            bundle.tokenizer.encode_batch(batch)
        return len(norm)

    n, t = _best_of(repeats, tokenise)
    rows = [BenchResult("tokenisation alone (encode_batch of 128)", n, t, "msg/s")]
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(2, bundle.config.vocab_size, (128, 64), generator=generator)
    mask = torch.ones_like(ids, dtype=torch.bool)

    def forward() -> int:
        with torch.inference_mode():
            for _ in range(20):
                bundle.network(ids, mask)
        return 128 * 20

    forward()  # warm-up
    n, t = _best_of(repeats, forward)
    name = f"{bundle.config.arch} network alone, 128 x 64 tokens (original: per 128)"
    rows.append(BenchResult(name, n, t, "msg/s"))
    return rows
