"""Schema migrations: an ordered registry, each applied once and recorded in a table.

A migration and the record of having run it commit in one transaction, so a crash
between the two cannot happen. Never edit a released migration; append a new one.

One history serves both backends. The migrations are written in SQLite's DDL and
:func:`postgres_ddl` derives PostgreSQL's from them (``INTEGER PRIMARY KEY`` row ids
become identity columns, ``REAL`` becomes ``DOUBLE PRECISION``: PostgreSQL's ``REAL`` is 4
bytes, too coarse for epoch seconds; ``WITHOUT ROWID`` is SQLite's alone). A
migration's statements use only what both accept besides those.
"""

from __future__ import annotations

import re
import time

from storage.sql import SqlConnection

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
    (
        "0010_sharded_workers",
        """
        -- Workers of one database (`chatwarden run` processes): each writes its heartbeat;
        -- one whose expires_at has passed is dead, and its channels are taken over.
        CREATE TABLE workers (
            worker_id    TEXT PRIMARY KEY,
            host         TEXT NOT NULL,
            started_at   REAL NOT NULL,
            heartbeat_at REAL NOT NULL,
            expires_at   REAL NOT NULL
        );

        -- Which worker reads which channel. A lease is renewed with the heartbeat; a
        -- worker that asks for a channel (to even out the load) sets next_owner, joins,
        -- and then takes the lease over, so the channel is never left unread.
        CREATE TABLE channel_leases (
            channel    TEXT PRIMARY KEY,
            owner      TEXT,                    -- NULL: nobody reads it yet
            expires_at REAL NOT NULL DEFAULT 0,
            next_owner TEXT,                    -- asked for by this worker
            since      REAL                     -- when owner took it
        );
        CREATE INDEX channel_leases_owner ON channel_leases (owner);

        -- Twitch's join limit per account, shared by every worker chatting as it: one row
        -- per join slot (10/19 s long, see storage.leases), one join in each.
        CREATE TABLE join_slots (
            account   TEXT NOT NULL,
            slot      BIGINT NOT NULL,
            worker_id TEXT NOT NULL,
            PRIMARY KEY (account, slot)
        );

        -- The outbox claimed by one worker at a time (FOR UPDATE SKIP LOCKED on
        -- PostgreSQL): claimed_until passes, and another worker may send a report its
        -- claimer did not live to send.
        ALTER TABLE reports ADD COLUMN claimed_by TEXT;
        ALTER TABLE reports ADD COLUMN claimed_until REAL;
        """,
    ),
)


_SCHEMA_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at REAL)"
)


def postgres_ddl(statement: str) -> str:
    """One migration statement (SQLite's DDL) as PostgreSQL takes it."""
    statement = re.sub(
        r"\bINTEGER PRIMARY KEY\b", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", statement
    )
    statement = re.sub(r"\bINTEGER REFERENCES\b", "BIGINT REFERENCES", statement)
    statement = re.sub(r"\bREAL\b", "DOUBLE PRECISION", statement)
    return re.sub(r"\)\s*WITHOUT ROWID\s*$", ")", statement)


async def apply_migrations(conn: SqlConnection) -> list[str]:
    """Apply pending migrations in order, each in one transaction with its record; return
    the names applied now. On PostgreSQL an advisory lock makes workers starting together
    migrate one after the other."""
    translate = postgres_ddl if conn.dialect == "postgresql" else (lambda s: s)
    if conn.dialect == "postgresql":
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
            await conn.execute(translate(_SCHEMA_MIGRATIONS))
    else:
        await conn.execute(_SCHEMA_MIGRATIONS)
    applied: list[str] = []
    for name, sql in MIGRATIONS:
        async with conn.transaction():
            if conn.dialect == "postgresql":
                await conn.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
            done = await conn.fetchrow("SELECT 1 FROM schema_migrations WHERE name = ?", (name,))
            if done is not None:
                continue
            for statement in _statements(sql):
                await conn.execute(translate(statement))
            await conn.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                (name, time.time()),
            )
        applied.append(name)
    return applied


#: The advisory lock key migrations take on PostgreSQL ("chatwarden" in ASCII, truncated).
_MIGRATION_LOCK = 0x6368617477617264


def _statements(sql: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]
