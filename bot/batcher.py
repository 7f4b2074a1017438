"""Micro-batching with explicit backpressure.

Producers ``await put(item)``; when the bounded queue is full, ``put`` waits (and the
wait is counted), so a slow scorer slows the reader down — TCP then pushes back on the
server — and nothing is ever dropped. The consumer takes batches that close at
``max_batch`` items or ``max_wait`` seconds after their first item, whichever is first.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["BatcherClosed", "BatcherStats", "MicroBatcher"]

T = TypeVar("T")
_CLOSED = object()


class BatcherClosed(RuntimeError):
    """``put`` after ``close``."""


@dataclass(slots=True)
class BatcherStats:
    items_in: int = 0
    batches_out: int = 0
    backpressure_waits: int = 0


class MicroBatcher(Generic[T]):
    """A bounded queue read in batches."""

    def __init__(self, max_batch: int = 128, max_wait: float = 0.025, maxsize: int = 10_000):
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.max_batch = max_batch
        self.max_wait = max_wait
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize)
        self._closed = False
        self._drained = False
        self.stats = BatcherStats()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    async def put(self, item: T) -> None:
        """Add an item, waiting while the queue is full."""
        if self._closed:
            raise BatcherClosed("the batcher is closed")
        if self._queue.full():
            self.stats.backpressure_waits += 1
        await self._queue.put(item)
        self.stats.items_in += 1

    async def close(self) -> None:
        """No more items; batches already queued are still handed out."""
        if not self._closed:
            self._closed = True
            await self._queue.put(_CLOSED)

    async def next_batch(self) -> list[T] | None:
        """The next batch, or None once closed and drained."""
        if self._drained:
            return None
        first = await self._queue.get()
        if first is _CLOSED:
            self._drained = True
            return None
        batch: list[T] = [first]  # type: ignore[list-item]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        queue = self._queue
        while len(batch) < self.max_batch:
            if queue.empty():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    break
            else:
                item = queue.get_nowait()
            if item is _CLOSED:
                self._drained = True
                break
            batch.append(item)  # type: ignore[arg-type]
        self.stats.batches_out += 1
        return batch
