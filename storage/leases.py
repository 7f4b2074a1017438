"""Channel leases: which worker reads which channel, when several share one database.

Every worker writes a heartbeat (``workers``) and renews the leases it holds
(``channel_leases``) every few seconds; a lease lasts ``ttl`` seconds. A worker that
stops renewing (SIGKILL, a lost machine) loses its channels when they expire and the
others claim them: each claim is one conditional UPDATE, so two workers claiming at once
never both win a channel. A worker that holds fewer channels than its fair share (the
channels over the live workers) asks for channels of the workers over theirs
(``next_owner``), joins them, and only then takes the lease over: the old owner parts at
its next renewal, so the channel is read by both for a moment and never by none (the
storage counts a message read twice once).

Times are the workers' clocks (seconds since the epoch): keep them in step (NTP) to
within a small part of ``ttl``.

Twitch limits how fast one account joins channels (20 per 10 s, 2,000 for a verified
bot). Workers chatting as the same account share that limit through ``join_slots``: time
is cut into slots of ``period / (limit - 1)`` seconds and each slot holds one join,
so any ``period`` seconds see at most ``limit`` joins, whichever worker made them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from storage.database import Database

__all__ = [
    "Lease",
    "Renewal",
    "claim_free",
    "fair_share",
    "leases",
    "release_all",
    "renew",
    "request_channels",
    "sync_channels",
    "take_join_slot",
    "take_over",
]


@dataclass(frozen=True, slots=True)
class Lease:
    """One channel's lease, as stored."""

    channel: str
    owner: str | None
    expires_at: float
    next_owner: str | None


@dataclass(frozen=True, slots=True)
class Renewal:
    """What a heartbeat learned: the live workers, the channels this worker still holds,
    and the channels it asked other workers for (``next_owner``: it takes them over once
    it reads them)."""

    workers: tuple[str, ...]
    held: frozenset[str]
    asked_for: frozenset[str]
    #: held channels another worker asked for (it takes them over once it reads them)
    giving: frozenset[str] = frozenset()


async def sync_channels(db: Database, channels: Iterable[str]) -> None:
    """Make sure every channel of the list has a lease row (unowned when new)."""
    async with db.transaction() as sql:
        await sql.executemany(
            "INSERT INTO channel_leases (channel) VALUES (?) ON CONFLICT DO NOTHING",
            [(channel,) for channel in channels],
        )


async def renew(db: Database, worker: str, host: str, now: float, ttl: float) -> Renewal:
    """The heartbeat: this worker is alive until ``now + ttl``, and so are its leases.

    A request for one of its channels by a worker that has died since is withdrawn."""
    async with db.transaction() as sql:
        await sql.execute(
            """INSERT INTO workers (worker_id, host, started_at, heartbeat_at, expires_at)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (worker_id) DO UPDATE SET
                 heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at""",
            (worker, host, now, now, now + ttl),
        )
        rows = await sql.fetch(
            "SELECT worker_id FROM workers WHERE expires_at > ? ORDER BY worker_id", (now,)
        )
        workers = tuple(str(r[0]) for r in rows)
        await sql.execute(
            """UPDATE channel_leases SET next_owner = NULL
               WHERE owner = ? AND next_owner IS NOT NULL
                 AND next_owner NOT IN (SELECT worker_id FROM workers WHERE expires_at > ?)""",
            (worker, now),
        )
        held = await sql.fetch(
            "UPDATE channel_leases SET expires_at = ? WHERE owner = ? "
            "RETURNING channel, next_owner",
            (now + ttl, worker),
        )
        asked = await sql.fetch(
            "SELECT channel FROM channel_leases WHERE next_owner = ? AND owner <> ?",
            (worker, worker),
        )
    return Renewal(
        workers,
        frozenset(str(r[0]) for r in held),
        frozenset(str(r[0]) for r in asked),
        frozenset(str(r[0]) for r in held if r[1] is not None),
    )


def fair_share(channels: int, workers: int) -> int:
    """How many channels each live worker should read at most."""
    return math.ceil(channels / max(1, workers))


async def claim_free(
    db: Database,
    worker: str,
    channels: Sequence[str],
    now: float,
    ttl: float,
    limit: int,
) -> list[str]:
    """Claim up to ``limit`` of ``channels`` that nobody holds (never owned, released, or
    expired: their worker died), in a random order. One statement: on PostgreSQL the rows
    another worker is claiming at that moment are skipped (``SKIP LOCKED``), so workers
    claiming at once take different channels and never wait for each other."""
    if limit <= 0 or not channels:
        return []
    marks = ",".join("?" * len(channels))
    lock = " FOR UPDATE SKIP LOCKED" if db.dialect == "postgresql" else ""
    async with db.transaction() as sql:
        rows = await sql.fetch(
            f"""UPDATE channel_leases
                SET owner = ?, expires_at = ?, since = ?, next_owner = NULL
                WHERE (owner IS NULL OR expires_at <= ?) AND channel IN (
                  SELECT channel FROM channel_leases
                  WHERE (owner IS NULL OR expires_at <= ?) AND channel IN ({marks})
                  ORDER BY random() LIMIT ?{lock})
                RETURNING channel""",
            (worker, now + ttl, now, now, now, *channels, limit),
        )
    return sorted(str(r[0]) for r in rows)


async def request_channels(
    db: Database, worker: str, now: float, count: int, share: int
) -> list[str]:
    """Ask for up to ``count`` channels of the live workers holding more than ``share``
    (the fair share); return the channels now asked for by ``worker``. Each request is
    a transaction of its own (one row locked at a time: no deadlock with renewals)."""
    if count <= 0:
        return []
    async with db.transaction() as sql:
        rows = await sql.fetch(
            """SELECT channel, owner, next_owner FROM channel_leases
               WHERE owner IS NOT NULL AND expires_at > ? ORDER BY channel""",
            (now,),
        )
    load = Counter(str(r[1]) for r in rows)
    spare = {owner: n - share for owner, n in load.items() if n > share and owner != worker}
    asked: list[str] = []
    for channel, owner, next_owner in rows:
        if len(asked) >= count:
            break
        if next_owner is not None or spare.get(owner, 0) <= 0:
            continue
        async with db.transaction() as sql:
            done = await sql.fetchrow(
                """UPDATE channel_leases SET next_owner = ?
                   WHERE channel = ? AND owner = ? AND next_owner IS NULL RETURNING channel""",
                (worker, channel, owner),
            )
        if done is not None:
            spare[owner] -= 1
            asked.append(str(channel))
    return asked


async def take_over(
    db: Database, worker: str, channels: Sequence[str], now: float, ttl: float
) -> list[str]:
    """Take over channels asked for by ``worker`` (it reads them now); return those taken.
    One transaction per channel, as :func:`request_channels`."""
    taken: list[str] = []
    for channel in channels:
        async with db.transaction() as sql:
            row = await sql.fetchrow(
                """UPDATE channel_leases
                   SET owner = ?, next_owner = NULL, expires_at = ?, since = ?
                   WHERE channel = ? AND next_owner = ? RETURNING channel""",
                (worker, now + ttl, now, channel, worker),
            )
        if row is not None:
            taken.append(channel)
    return taken


async def release_all(db: Database, worker: str) -> int:
    """A worker stopping cleanly: its channels are free at once, and it is no worker."""
    async with db.transaction() as sql:
        count = await sql.execute(
            "UPDATE channel_leases SET owner = NULL, expires_at = 0, next_owner = NULL "
            "WHERE owner = ?",
            (worker,),
        )
        await sql.execute(
            "UPDATE channel_leases SET next_owner = NULL WHERE next_owner = ?", (worker,)
        )
        await sql.execute("DELETE FROM workers WHERE worker_id = ?", (worker,))
    return count


async def leases(db: Database) -> list[Lease]:
    """Every channel's lease, by channel."""
    async with db.transaction() as sql:
        rows = await sql.fetch(
            "SELECT channel, owner, expires_at, next_owner FROM channel_leases ORDER BY channel"
        )
    return [Lease(str(r[0]), r[1], float(r[2]), r[3]) for r in rows]


def join_slot(now: float, limit: int, period: float) -> int:
    """The join slot ``now`` falls in: ``period / (limit - 1)`` seconds long (any window of
    ``period`` seconds overlaps at most ``limit`` slots)."""
    return math.floor(now * max(1, limit - 1) / period)


async def take_join_slot(
    db: Database, account: str, worker: str, now: float, limit: int, period: float
) -> float:
    """Take the join slot of ``now`` for ``account``: 0.0 if taken (join now), else how
    many seconds until the next slot (another worker joined in this one)."""
    slot = join_slot(now, limit, period)
    async with db.transaction() as sql:
        won = await sql.fetchrow(
            """INSERT INTO join_slots (account, slot, worker_id) VALUES (?, ?, ?)
               ON CONFLICT DO NOTHING RETURNING slot""",
            (account, slot, worker),
        )
        if won is not None and slot % 256 == 0:  # now and then, forget old slots
            await sql.execute(
                "DELETE FROM join_slots WHERE account = ? AND slot < ?", (account, slot - 256)
            )
    if won is not None:
        return 0.0
    length = period / max(1, limit - 1)
    return max(0.001, (slot + 1) * length - now)
