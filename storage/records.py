"""Rows going into and coming out of the database, as frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SeenMessage:
    """A scored chat message (every one, flagged or not), for dedup and counters."""

    msg_id: str
    channel: str
    user_key: str
    user_id: str | None
    login: str
    display_name: str
    sent_at: float


@dataclass(frozen=True, slots=True)
class FlagRecord:
    """A message the policy flagged."""

    msg_id: str
    channel: str
    user_key: str
    login: str
    text: str
    score: float
    labels: tuple[str, ...]
    model_version: str
    policy_version: str  # Policy.version(channel): the policy and channel setup that flagged
    sent_at: float
    flagged_at: float
    evidence: tuple[str, ...] = ()
    #: the channel's messages just before this one, oldest first
    context: tuple[ContextLine, ...] = ()
    #: why a learned channel norm flagged it, in the moderators' terms (None: no norm did)
    note: str | None = None


@dataclass(frozen=True, slots=True)
class ContextLine:
    """A chat message seen just before a flagged one, kept beside the flag."""

    login: str
    text: str
    sent_at: float


@dataclass(frozen=True, slots=True)
class ReportDraft:
    """A decision to report a user; the report takes every unreported flag of that user."""

    channel: str
    user_key: str
    login: str
    display_name: str
    reason: str
    created_at: float


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """Everything one scored batch writes, in one transaction."""

    messages: tuple[SeenMessage, ...]
    flags: tuple[FlagRecord, ...] = ()
    reports: tuple[ReportDraft, ...] = ()
    #: moderators' actions seen in chat among the batch's messages, in order
    moderation: tuple[ModerationEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class UserCounts:
    """Per-user, per-channel totals."""

    channel: str
    messages_seen: int
    messages_flagged: int
    reports: int


@dataclass(frozen=True, slots=True)
class FlaggedMessage:
    """A stored flag, as read back."""

    msg_id: str
    channel: str
    login: str
    text: str
    score: float
    labels: tuple[str, ...]
    model_version: str
    policy_version: str | None  # None: flagged before the policy's version was stored
    sent_at: float
    flagged_at: float
    report_id: int | None
    evidence: tuple[str, ...] = ()
    note: str | None = None
    #: the replay run that stored it (``chatwarden replay``); None: seen live
    shadow: str | None = None


@dataclass(frozen=True, slots=True)
class ReportSummary:
    """A report in the outbox, as read back."""

    id: int
    channel: str
    login: str
    reason: str
    status: str
    attempts: int
    created_at: float
    sent_at: float | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A pending report, due to be sent: the rows it is rendered from at send time.

    ``counts`` is the snapshot taken when the report was written (its ``reports`` is this
    report's number), so a report sent late or resent reads as it did when it was decided.
    A report written before migration 0004 has no snapshot (``counts`` is None): it was
    rendered when it was written, and ``payload`` is that embed's JSON, sent as stored.
    """

    id: int
    attempts: int
    report: ReportDraft  # display_name is the login for a report written before 0004
    counts: UserCounts | None
    flags: tuple[FlaggedMessage, ...]  # oldest first
    payload: str | None = None


@dataclass(frozen=True, slots=True)
class ModerationEvent:
    """A moderator's action seen in chat: a timeout, a ban, a deleted message, a clear."""

    channel: str
    kind: str  # timeout | ban | delete | clear
    at: float
    target_login: str | None = None
    target_user_id: str | None = None
    target_msg_id: str | None = None
    duration: int | None = None
    text: str | None = None
    #: what identifies it across redeliveries and replays: an event whose id was stored
    #: already is not stored again; None: always stored
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class UserHistory:
    """What ``chatwarden history LOGIN`` shows."""

    login: str
    display_name: str
    counts: tuple[UserCounts, ...]
    flags: tuple[FlaggedMessage, ...]
    reports: tuple[ReportSummary, ...]
    moderation: tuple[ModerationEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class FlaggedUser:
    """One row of ``chatwarden flagged``: a user flagged in a period."""

    login: str
    display_name: str
    channel: str
    flagged: int
    worst_score: float
    last_flagged: float
    reports: int
    #: how many of these flags a replay stored (0: all seen live)
    replayed: int = 0


@dataclass(frozen=True, slots=True)
class OlderFlags:
    """Flags older than a period asked for: how many, how many a replay stored, the newest."""

    count: int
    replayed: int
    newest: float | None


@dataclass(frozen=True, slots=True)
class Verdict:
    """A moderator's judgement of one flag."""

    msg_id: str
    channel: str
    correct: bool
    category: str | None
    moderator: str
    at: float


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """Per-channel settings made on the dashboard (None: the environment's value)."""

    channel: str
    sensitivity: str | None = None
    exempt_vips: bool | None = None
    exempt_subscribers: bool | None = None
    allowed_terms: tuple[str, ...] = ()
    blocked_terms: tuple[str, ...] = ()
    updated_by: str = ""
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class FlagView:
    """A flag as the dashboard shows it: with its context and latest verdict."""

    flag: FlaggedMessage
    context: tuple[ContextLine, ...]
    verdict: Verdict | None


@dataclass(frozen=True, slots=True)
class LabelledFlag:
    """A flag with its latest verdict, as exported for training."""

    text: str
    channel: str
    labels: tuple[str, ...]
    correct: bool
    category: str | None


@dataclass(frozen=True, slots=True)
class BotAction:
    """A moderation action the bot sent through Twitch's API (Helix), and its answer.

    Failed actions are stored too (``ok`` False, Helix's ``status`` and ``message``):
    a moderator sees what was tried and why it did not happen.
    """

    id: int
    channel: str
    target_login: str | None
    target_user_id: str | None
    kind: str  # timeout | ban | delete
    duration: int | None  # seconds, for timeouts
    reason: str
    msg_id: str | None
    moderator: str  # who asked for it; 'auto' for the bot's own auto-actions
    source: str  # dashboard | auto
    ok: bool
    status: int  # HTTP status from Helix; 0 when no answer came
    message: str  # Helix's error message, "" on success
    at: float


@dataclass(frozen=True, slots=True)
class NormsSnapshot:
    """What one channel's moderators taught the bot, as saved (``bot.norms`` reads
    ``state``). ``epoch`` counts resets: a bot that saves with an older epoch than the
    stored one learned from before a reset, and starts afresh instead."""

    channel: str
    state: str
    generation: int
    epoch: int = 0
    frozen: bool = False
    updated_at: float = 0.0
