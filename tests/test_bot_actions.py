"""Actions sent through Twitch's API are stored, failed ones too (migration 0007)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage.database import Database


async def test_actions_are_recorded_and_read_back_newest_first(tmp_path: Path) -> None:
    path = tmp_path / "cw.db"
    async with Database.open(path) as db:
        first = await db.record_action(
            channel="#Chan",
            target_login="@Troll",
            kind="timeout",
            duration=600,
            reason="spam",
            msg_id=None,
            moderator="mod_a",
            ok=True,
            status=200,
            message="",
            source="dashboard",
            target_user_id="42",
            at=100.0,
        )
        second = await db.record_action(
            channel="chan",
            target_login="troll",
            kind="ban",
            duration=None,
            reason="slurs",
            msg_id=None,
            moderator="mod_b",
            ok=False,
            status=403,
            message="The user specified in the moderator_id parameter is not a moderator",
            source="dashboard",
            at=200.0,
        )
        await db.record_action(
            channel="other",
            target_login=None,
            kind="delete",
            duration=None,
            reason="auto: score 0.99 (threat)",
            msg_id="abc-123",
            moderator="auto",
            ok=True,
            status=204,
            message="",
            source="auto",
            at=300.0,
        )
        assert second > first
        troll = await db.bot_actions("Troll")
        assert [(a.kind, a.ok, a.status, a.moderator) for a in troll] == [
            ("ban", False, 403, "mod_b"),
            ("timeout", True, 200, "mod_a"),
        ]
        assert troll[1].channel == "chan" and troll[1].duration == 600
        assert troll[1].target_user_id == "42" and troll[0].message.startswith("The user")
        assert [a.kind for a in await db.bot_actions(channel="#other")] == ["delete"]
        assert [a.at for a in await db.bot_actions(limit=2)] == [300.0, 200.0]
        assert await db.count("bot_actions") == 3
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM bot_actions WHERE ok = 0").fetchone() == (1,)


async def test_an_unknown_kind_or_source_is_refused(tmp_path: Path) -> None:
    async with Database.open(tmp_path / "cw.db") as db:
        common = dict(
            channel="c",
            target_login="u",
            duration=None,
            reason="",
            msg_id=None,
            moderator="m",
            ok=True,
            status=200,
            message="",
        )
        with pytest.raises(ValueError, match="kind"):
            await db.record_action(kind="kick", source="dashboard", **common)
        with pytest.raises(ValueError, match="source"):
            await db.record_action(kind="ban", source="cron", **common)
        assert await db.bot_actions() == []
