"""Schema migrations: an ordered registry, each applied once and recorded in a table.

A migration and the record of having run it commit in one transaction, so a crash
between the two cannot happen. Never edit a released migration; append a new one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import aiosqlite

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "0001_initial",
        """
        CREATE TABLE users (
            user_key     TEXT PRIMARY KEY,      -- Twitch user id, or 'login:<login>' without one
            user_id      TEXT,
            login        TEXT NOT NULL,
            display_name TEXT NOT NULL,
            first_seen   REAL NOT NULL,
            last_seen    REAL NOT NULL
        );
        CREATE INDEX users_login ON users (login);

        CREATE TABLE seen_messages (            -- dedup: a message delivered twice counts once
            msg_id  TEXT PRIMARY KEY,
            seen_at REAL NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX seen_messages_seen_at ON seen_messages (seen_at);

        CREATE TABLE user_channel_counts (
            user_key         TEXT NOT NULL,
            channel          TEXT NOT NULL,
            messages_seen    INTEGER NOT NULL DEFAULT 0,
            messages_flagged INTEGER NOT NULL DEFAULT 0,
            reports          INTEGER NOT NULL DEFAULT 0,
            last_flagged     REAL,
            PRIMARY KEY (user_key, channel)
        ) WITHOUT ROWID;

        CREATE TABLE reports (                  -- the outbox: written before any send
            id           INTEGER PRIMARY KEY,
            channel      TEXT NOT NULL,
            user_key     TEXT NOT NULL,
            login        TEXT NOT NULL,
            reason       TEXT NOT NULL,
            payload      TEXT NOT NULL,         -- JSON, ready to send
            status       TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent')),
            attempts     INTEGER NOT NULL DEFAULT 0,
            next_attempt REAL NOT NULL,
            created_at   REAL NOT NULL,
            sent_at      REAL,
            last_error   TEXT
        );
        CREATE INDEX reports_pending ON reports (status, next_attempt);
        CREATE INDEX reports_user ON reports (user_key, channel);

        CREATE TABLE flagged_messages (
            id            INTEGER PRIMARY KEY,
            msg_id        TEXT NOT NULL UNIQUE,
            channel       TEXT NOT NULL,
            user_key      TEXT NOT NULL,
            login         TEXT NOT NULL,
            text          TEXT NOT NULL,
            score         REAL NOT NULL,
            labels        TEXT NOT NULL,        -- JSON list
            model_version TEXT NOT NULL,
            sent_at       REAL NOT NULL,
            flagged_at    REAL NOT NULL,
            report_id     INTEGER REFERENCES reports (id)
        );
        CREATE INDEX flagged_user ON flagged_messages (user_key, channel, sent_at);
        CREATE INDEX flagged_channel_time ON flagged_messages (channel, sent_at);
        """,
    ),
    (
        "0002_moderation_events",
        """
        CREATE TABLE moderation_events (        -- what the channel's moderators did, seen in chat
            id             INTEGER PRIMARY KEY,
            channel        TEXT NOT NULL,
            kind           TEXT NOT NULL CHECK (kind IN ('timeout', 'ban', 'delete', 'clear')),
            target_login   TEXT,
            target_user_id TEXT,
            target_msg_id  TEXT,
            duration       INTEGER,             -- seconds, for timeouts
            text           TEXT,                -- the deleted message, for deletions
            at             REAL NOT NULL
        );
        CREATE INDEX moderation_target ON moderation_events (target_login, channel, at);
        """,
    ),
    (
        "0003_flag_evidence",
        """
        ALTER TABLE flagged_messages ADD COLUMN evidence TEXT NOT NULL DEFAULT '[]';  -- JSON list
        """,
    ),
    (
        "0004_policy_version_and_report_snapshot",
        """
        ALTER TABLE flagged_messages ADD COLUMN policy_version TEXT;  -- NULL: flagged before
        -- A report is rendered when it is sent, from its flags (report_id) and this snapshot
        -- of what it said when it was written, and the sent embed is stored in payload
        -- (empty until then). Reports written earlier have a rendered payload and no snapshot.
        ALTER TABLE reports ADD COLUMN display_name TEXT;
        ALTER TABLE reports ADD COLUMN messages_seen INTEGER;
        ALTER TABLE reports ADD COLUMN messages_flagged INTEGER;
        ALTER TABLE reports ADD COLUMN report_number INTEGER;  -- the user's nth in the channel
        """,
    ),
    (
        "0005_shadow_reports",
        """
        -- NULL: a live report, sent by `run`. Otherwise the replay run that wrote it: a
        -- shadow report, which `run` never sends and only that replay (with --discord) may.
        ALTER TABLE reports ADD COLUMN shadow TEXT;
        """,
    ),
    (
        "0006_dashboard",
        """
        -- The few chat messages of the channel just before each flag (oldest first), so a
        -- moderator sees what a flagged message answered.
        CREATE TABLE flag_context (
            flag_msg_id TEXT NOT NULL,          -- flagged_messages.msg_id
            position    INTEGER NOT NULL,       -- 1: the oldest kept
            login       TEXT NOT NULL,
            text        TEXT NOT NULL,
            sent_at     REAL NOT NULL,
            PRIMARY KEY (flag_msg_id, position)
        ) WITHOUT ROWID;

        -- A moderator's judgement of a flag: the latest one per flag counts.
        CREATE TABLE verdicts (
            id        INTEGER PRIMARY KEY,
            msg_id    TEXT NOT NULL,            -- flagged_messages.msg_id
            channel   TEXT NOT NULL,
            correct   INTEGER NOT NULL CHECK (correct IN (0, 1)),
            category  TEXT,                     -- the right category, when the flag had another
            moderator TEXT NOT NULL,
            at        REAL NOT NULL
        );
        CREATE INDEX verdicts_msg ON verdicts (msg_id, at);

        -- Per-channel settings changed from the dashboard; applied live, and at start-up
        -- over what the environment says.
        CREATE TABLE channel_settings (
            channel            TEXT PRIMARY KEY,
            sensitivity        TEXT,            -- NULL: CHATWARDEN_SENSITIVITY's
            exempt_vips        INTEGER,         -- NULL: CHATWARDEN_EXEMPT_VIPS
            exempt_subscribers INTEGER,         -- NULL: CHATWARDEN_EXEMPT_SUBSCRIBERS
            allowed_terms      TEXT NOT NULL DEFAULT '[]',  -- JSON list
            blocked_terms      TEXT NOT NULL DEFAULT '[]',  -- JSON list
            updated_by         TEXT NOT NULL,
            updated_at         REAL NOT NULL
        );
        """,
    ),
    (
        "0007_bot_actions",
        """
        CREATE TABLE bot_actions (              -- what the bot asked Twitch's API to do
            id             INTEGER PRIMARY KEY,
            channel        TEXT NOT NULL,
            target_login   TEXT,                -- NULL for a deletion known only by msg_id
            target_user_id TEXT,                -- as resolved through Helix, when it was
            kind           TEXT NOT NULL CHECK (kind IN ('timeout', 'ban', 'delete')),
            duration       INTEGER,             -- seconds, for timeouts
            reason         TEXT NOT NULL,
            msg_id         TEXT,                -- the deleted message, for deletions
            moderator      TEXT NOT NULL,       -- who clicked ('auto' for the bot's own)
            source         TEXT NOT NULL CHECK (source IN ('dashboard', 'auto')),
            ok             INTEGER NOT NULL,    -- 1: Helix accepted it
            status         INTEGER NOT NULL,    -- Helix's HTTP status (0: no answer)
            message        TEXT NOT NULL,       -- Helix's error message ('' on success)
            at             REAL NOT NULL
        );
        CREATE INDEX bot_actions_target ON bot_actions (target_login, channel, at);
        CREATE INDEX bot_actions_channel ON bot_actions (channel, at);
        """,
    ),
    (
        "0008_channel_norms",
        """
        -- Why a learned channel norm flagged a message, in the moderators' terms
        -- ("like 7 messages your moderators removed since Tuesday"); NULL for other flags.
        ALTER TABLE flagged_messages ADD COLUMN note TEXT;
        -- What identifies a moderation event across redeliveries and replays (NULL: none):
        -- an event stored once is neither stored nor learned from again.
        ALTER TABLE moderation_events ADD COLUMN event_id TEXT;
        CREATE UNIQUE INDEX moderation_event_id ON moderation_events (event_id);
        CREATE INDEX moderation_channel_time ON moderation_events (channel, at);

        -- What each channel's moderators taught the bot (bot.norms), saved as it learns so
        -- a restart keeps it.
        CREATE TABLE channel_norms (
            channel    TEXT PRIMARY KEY,
            state      TEXT NOT NULL,               -- JSON, bot.norms' own format
            generation INTEGER NOT NULL,            -- signals learned since the last reset
            epoch      INTEGER NOT NULL DEFAULT 0,  -- bumped by every reset
            frozen     INTEGER NOT NULL DEFAULT 0,  -- 1: judges by what it knows, learns no more
            updated_at REAL NOT NULL
        );
        """,
    ),
    (
        "0009_sent_to_and_replayed_flags",
        """
        -- Where a sent report went: 'discord', or 'log' when no webhook was set (shown as
        -- 'logged'). NULL: pending, or sent before this column (to Discord or the log).
        ALTER TABLE reports ADD COLUMN sent_to TEXT;
        -- The replay run that stored a flag (as reports.shadow); NULL: seen live by `run`.
        ALTER TABLE flagged_messages ADD COLUMN shadow TEXT;
        """,
    ),
)


#: Opens one write transaction on a connection: commits when the block ends, rolls back
#: (without masking the first error) when it raises.
Transaction = Callable[[aiosqlite.Connection], AbstractAsyncContextManager[None]]


async def apply_migrations(conn: aiosqlite.Connection, transaction: Transaction) -> list[str]:
    """Apply pending migrations in order; return the names applied now.

    ``transaction`` is the database's one transaction helper
    (``storage.database._transaction``), passed in rather than imported because the
    database module imports this one.
    """
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at REAL)"
    )
    async with conn.execute("SELECT name FROM schema_migrations") as cursor:
        done = {row[0] for row in await cursor.fetchall()}
    applied: list[str] = []
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        async with transaction(conn):
            for statement in _statements(sql):
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                (name, time.time()),
            )
        applied.append(name)
    return applied


def _statements(sql: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]
