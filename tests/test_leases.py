"""Channel leases and the shared join limit, on both backends (the clocks are given)."""

from __future__ import annotations

import asyncio
import time

from bot.sharding import SharedJoinLimiter
from storage import leases
from storage.database import Database
from storage.location import DatabaseLocation, PostgresUrl

CHANNELS = [f"c{i}" for i in range(10)]
TTL = 10.0


async def test_claims_expiry_and_a_fair_handover(db_location: DatabaseLocation) -> None:
    async with Database.open(db_location) as db:
        await leases.sync_channels(db, CHANNELS)
        await leases.sync_channels(db, CHANNELS)  # idempotent
        # a alone: every channel is free, a claims them all
        first = await leases.renew(db, "a", "host-a", 100.0, TTL)
        assert first.workers == ("a",) and first.held == frozenset()
        share = leases.fair_share(len(CHANNELS), len(first.workers))
        assert sorted(await leases.claim_free(db, "a", CHANNELS, 100.0, TTL, share)) == CHANNELS
        assert await leases.claim_free(db, "b", CHANNELS, 101.0, TTL, 5) == []  # held by a
        # b arrives: nothing free, so it asks a (over its share of 5) for 5 channels
        joined = await leases.renew(db, "b", "host-b", 101.0, TTL)
        assert joined.workers == ("a", "b")
        asked = await leases.request_channels(db, "b", 101.0, 10, share=5)
        assert len(asked) == 5  # only what a holds over its share
        again = await leases.renew(db, "b", "host-b", 102.0, TTL)
        assert again.asked_for == frozenset(asked)
        # a still holds (and reads) them, and knows they are wanted
        seen_by_a = await leases.renew(db, "a", "host-a", 102.0, TTL)
        assert seen_by_a.held == frozenset(CHANNELS) and seen_by_a.giving == frozenset(asked)
        # b joined them: it takes them over; a loses them at its next renewal
        assert sorted(await leases.take_over(db, "b", asked, 103.0, TTL)) == sorted(asked)
        after = await leases.renew(db, "a", "host-a", 104.0, TTL)
        assert after.held == frozenset(CHANNELS) - frozenset(asked)
        # a dies (no more renewals): after its lease expires b claims the rest
        assert await leases.claim_free(db, "b", CHANNELS, 110.0, TTL, 10) == []  # not yet
        alive = await leases.renew(db, "b", "host-b", 115.0, TTL)
        assert alive.workers == ("b",)
        rest = await leases.claim_free(db, "b", CHANNELS, 115.0, TTL, 10)
        assert sorted(rest) == sorted(after.held)
        # b stops cleanly: everything is free at once
        assert await leases.release_all(db, "b") == len(CHANNELS)
        assert all(lease.owner is None for lease in await leases.leases(db))


async def test_two_workers_claiming_at_once_never_share_a_channel(pg_url: PostgresUrl) -> None:
    many = [f"ch{i}" for i in range(200)]
    async with Database.open(pg_url) as a, Database.open(pg_url) as b:
        await leases.sync_channels(a, many)
        got_a, got_b = await asyncio.gather(
            leases.claim_free(a, "a", many, 100.0, TTL, 150),
            leases.claim_free(b, "b", many, 100.0, TTL, 150),
        )
        assert not set(got_a) & set(got_b)
        assert len(got_a) + len(got_b) == 200
        owners = {lease.channel: lease.owner for lease in await leases.leases(a)}
        assert {c for c, o in owners.items() if o == "a"} == set(got_a)


async def test_a_requester_that_died_frees_the_channel_it_asked_for(
    db_location: DatabaseLocation,
) -> None:
    async with Database.open(db_location) as db:
        await leases.sync_channels(db, CHANNELS)
        await leases.renew(db, "a", "h", 100.0, TTL)
        await leases.claim_free(db, "a", CHANNELS, 100.0, TTL, 10)
        await leases.renew(db, "b", "h", 100.0, TTL)
        asked = await leases.request_channels(db, "b", 100.0, 5, share=5)
        assert len(asked) == 5
        # b dies; a renews after b's heartbeat expired: the requests are withdrawn
        renewal = await leases.renew(db, "a", "h", 120.0, TTL)
        assert renewal.giving == frozenset()
        await leases.renew(db, "c", "h", 120.0, TTL)
        assert len(await leases.request_channels(db, "c", 120.0, 5, share=5)) == 5


async def test_workers_on_one_account_share_twitchs_join_limit(pg_url: PostgresUrl) -> None:
    """Two workers chatting as one account join as fast as they may: together they make
    at most 20 joins in any window of the period (scaled here from 10 s to 1 s)."""
    period = 1.0
    #: each join was granted between asking and hearing back: (asked, granted by)
    grants: list[tuple[float, float]] = []
    async with Database.open(pg_url) as a, Database.open(pg_url) as b:

        async def joins(db: Database, worker: str, n: int) -> None:
            limiter = SharedJoinLimiter(db, "botaccount", limit=20, period=period, worker=worker)
            for _ in range(n):
                asked = time.monotonic()
                await limiter.acquire()
                grants.append((asked, time.monotonic()))

        started = time.monotonic()
        await asyncio.gather(joins(a, "w1", 25), joins(b, "w2", 25))
        took = time.monotonic() - started
    # joins certainly within one period: asked after `start` and granted before its end (a
    # busy machine only delays hearing back, which this never counts against the limiter)
    worst = max(
        sum(1 for asked, done in grants if asked >= start and done < start + period)
        for start, _ in grants
    )
    assert worst <= 20, f"{worst} joins within {period} s"
    # and not much slower than the limit allows: 50 joins at 19 a period take ~2.6 s
    assert 1.5 <= took <= 6.0, took


async def test_settings_saved_on_one_workers_dashboard_reach_the_others(
    pg_url: PostgresUrl,
) -> None:
    from bot.sharding import SettingsFollower
    from storage.records import ChannelSettings

    applied: list[ChannelSettings] = []
    async with Database.open(pg_url) as a, Database.open(pg_url) as b:
        await a.save_channel_settings(ChannelSettings("c1", "low", updated_by="m", updated_at=1.0))
        follower = SettingsFollower(b, applied.append, every=0.02)
        stop = asyncio.Event()
        task = asyncio.create_task(follower.run(stop))
        try:
            await asyncio.sleep(0.1)
            assert applied == []  # what was saved before it started is the start-up's
            high = ChannelSettings(
                "c1", "high", blocked_terms=("x",), updated_by="m", updated_at=2.0
            )
            await a.save_channel_settings(high)
            other = ChannelSettings("c2", None, exempt_vips=True, updated_by="m", updated_at=3.0)
            await a.save_channel_settings(other)
            for _ in range(100):
                if len(applied) >= 2:
                    break
                await asyncio.sleep(0.02)
        finally:
            stop.set()
            await task
    assert sorted(applied, key=lambda s: s.channel) == [high, other]


async def test_a_channel_read_by_another_worker_shows_its_saved_norms(
    db_location: DatabaseLocation,
) -> None:
    """The dashboard of a worker that does not read a channel shows that channel's norms as
    last saved by the worker that does, resets them through the database, and says where
    to freeze them (the reader's own learner is the one that learns)."""
    import pytest

    from bot.norms import LearnedNorms
    from bot.norms.store import HeldElsewhere, NormsControl, snapshot

    reader = LearnedNorms()
    reader.channel("theirs").dirty = True
    async with Database.open(db_location) as db:
        await db.save_norms([snapshot(reader, "theirs", 1.0)])
        mine = LearnedNorms()
        control = NormsControl(db, mine, holds=lambda channel: channel == "mine")
        assert await control.summary("theirs") is not None  # from the database
        assert "theirs" not in mine.channels  # this worker's learner was not touched
        with pytest.raises(HeldElsewhere, match="read by another worker"):
            await control.freeze("theirs", True)
        await control.reset("theirs")
        assert "theirs" not in mine.channels
        [row] = await db.channel_norms("theirs")
        assert row.epoch == 1  # the reader forgets at its next save
        await control.freeze("mine", True)  # a channel this worker reads: live
        assert mine.channel("mine").frozen
