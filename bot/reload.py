"""Hot reload: follow a registry alias and swap in new model versions while the bot runs.

Every ``interval`` seconds the watcher asks the tracking server what the URI points at.
When the version changed, the new model is downloaded and loaded in a worker thread and
handed to the pipeline, which picks it up at its next batch: no message is dropped or
scored twice, and every flag records the version that scored it. A version whose files are
missing or corrupt is refused and the current model stays; an unreachable server only
postpones the check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from bot.pipeline import Pipeline
from model.errors import ModelError

__all__ = ["ModelWatcher"]

_log = logging.getLogger(__name__)


class ModelWatcher:
    def __init__(self, uri: str, cache_dir: Path, pipeline: Pipeline, interval: float) -> None:
        self.uri = uri
        self.cache_dir = cache_dir
        self.pipeline = pipeline
        self.interval = interval
        self.swaps = 0
        self.refused: set[str] = set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
            if not stop.is_set():
                await self.check()

    async def check(self) -> bool:
        """One check; True when a new version was swapped in."""
        from model import loading, registry

        try:
            ref = await asyncio.to_thread(registry.resolve, self.uri)
        except (ModelError, OSError) as exc:
            _log.warning(
                "model check for %s failed (%s); keeping %s",
                self.uri,
                exc,
                self.pipeline.scorer.version,
            )
            return False
        current = self.pipeline.scorer.version
        if ref.label == current or ref.label in self.refused:
            return False
        started = time.perf_counter()
        try:
            scorer = await asyncio.to_thread(loading.load_reference, ref, self.cache_dir)
        except ModelError as exc:
            self.refused.add(ref.label)
            _log.error("refused model %s: %s; keeping %s", ref.label, exc, current)
            return False
        self.pipeline.scorer = scorer
        self.swaps += 1
        _log.info(
            "switched model %s → %s in %.2f s (at the next batch)",
            current,
            ref.label,
            time.perf_counter() - started,
        )
        return True
