"""Agreement with real moderators: ``chatwarden evaluate --moderation``.

Real chat with the channel moderators' bans and timeouts (:mod:`bot.lab.modlogs`) is
replayed in time order — every channel of a source interleaved, as one deployment watching
them all would see it — through the bot's own scorer and policy, exactly as the pipeline
decides (scores, occlusion evidence for what may be flagged, :meth:`Policy.decide` on each
message when it arrives) and learns (:meth:`Policy.moderated` on each action when it
happens): a replay is an honest simulation of a deployment, and an action never flags
what it already removed.

A user is *actioned* at the first moderator action on them in that channel. For each
category of the moderated message (the annotators' norm in ``twitch_normvio_en``) the
measure is the share of actioned users whom the bot flagged, and reported, **before** that
first action, and how many seconds ahead its first flag came. Over all chat: flagged users,
flags and reports per 10,000 messages, and the share of the bot's flagged and reported users
whom the moderators actioned at or after its first flag — a lower bound on precision, since
each window of the log records only the action that opened it. With learned norms, the
same run without learning is measured beside it, with a learning curve (the catch rate
after 0, 10, 30 and 100 actions seen in the channel) and, on channels with at least
:data:`BUSY_CHANNEL` actions, the second half of their timeline.

A random sample of reports is printed for reading by docs/labelling.md. The verdicts of
reports already read are kept as references (:data:`REPORT_AUDIT`: the message's id and a
hash of its text, never the text), so the command says how many of its sample are justified.
"""

from __future__ import annotations

import random
import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.lab.livechat import text_hash
from bot.lab.modlogs import MODERATION_SOURCES, ChatEvent
from bot.pipeline import explain_flags
from bot.policy.policy import Policy
from bot.twitch.events import ChatMessage, ClearChat, ClearMsg
from model.errors import DataNotFoundError
from model.scorer import Score, Scorer

__all__ = [
    "REPORT_AUDIT",
    "TARGET_CATEGORIES",
    "Agreement",
    "CategoryAgreement",
    "CurvePoint",
    "FlagCategory",
    "Report",
    "ReportSample",
    "SecondHalf",
    "Tally",
    "agreement_markdown",
    "load_events",
    "load_report_verdicts",
    "measure_agreement",
    "replay_events",
    "score_events",
    "summarize",
]

#: What issue 19's targets are about: users actioned for harassment or discrimination.
TARGET_CATEGORIES = ("HIB", "Discrimination")
_TARGET_ROW = "HIB or Discrimination"
_ALL_ROW = "every action"
_UNLABELLED = "(no category)"
#: A flag or report counts as "before the action" when it came at most this long before it
#: (the log's windows are ~2 minutes of chat; older flags belong to other sessions).
HORIZON = 3600.0
#: The learning curve's steps: actions a channel had seen before a user's first one.
CURVE_STEPS = (0, 10, 30, 100)
#: Channels with at least this many actioned users are compared on their second half.
BUSY_CHANNEL = 50

Key = tuple[str, str]  # (channel, login)

#: Hand verdicts on sampled reports (docs/labelling.md), as references: ``source``,
#: ``msg_id``, ``sha256`` (first 16 hex digits of the text's SHA-256), ``stratum`` (which
#: scorer's sample it was read in) and ``label`` (1 = justified).
REPORT_AUDIT = Path(__file__).resolve().parent / "labels" / "moderation_audit.tsv"
Verdicts = dict[tuple[str, str], tuple[str, int]]  # (source, msg_id) -> (sha256, label)


@dataclass(frozen=True, slots=True)
class CategoryAgreement:
    category: str
    actioned: int  # users whose first action has this category
    flagged: int  # ... whom the bot flagged before the action
    reported: int  # ... whom the bot reported before the action
    median_lead: float | None  # seconds from the first flag to the action (flagged users)

    def figures(self) -> dict[str, object]:
        return {
            "category": self.category,
            "actioned": self.actioned,
            "flagged_before": self.flagged,
            "reported_before": self.reported,
            "flagged_share": round(self.flagged / self.actioned, 4) if self.actioned else None,
            "reported_share": round(self.reported / self.actioned, 4) if self.actioned else None,
            "median_lead_s": self.median_lead,
        }


@dataclass(frozen=True, slots=True)
class ReportSample:
    """A report to read by docs/labelling.md (printed, never written to a file)."""

    score: float
    actioned: bool
    category: str | None
    text: str
    reason: str
    msg_id: str = ""
    #: the hand verdict by docs/labelling.md, if this message was read (:data:`REPORT_AUDIT`)
    justified: bool | None = None

    def figures(self) -> dict[str, object]:
        return {
            "score": round(self.score, 4),
            "actioned": self.actioned,
            "category": self.category,
            "text": self.text,
            "reason": self.reason,
            "msg_id": self.msg_id,
            "justified": self.justified,
        }


@dataclass(frozen=True, slots=True)
class FlagCategory:
    """Users whose first flag was for ``category``, and how many of them moderators
    actioned at or after it."""

    category: str
    users: int
    actioned: int

    def figures(self) -> dict[str, object]:
        return {"category": self.category, "users": self.users, "actioned_later": self.actioned}


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """Actioned users whose channel had seen ``low`` to ``high`` (exclusive; None: no
    bound) actions before theirs, and how many the bot flagged before their action."""

    low: int
    high: int | None
    actioned: int
    flagged: int

    @property
    def name(self) -> str:
        return f"{self.low}+" if self.high is None else f"{self.low}–{self.high - 1}"

    def figures(self) -> dict[str, object]:
        return {
            "actions_seen": self.name,
            "actioned": self.actioned,
            "flagged_before": self.flagged,
        }


@dataclass(frozen=True, slots=True)
class SecondHalf:
    """On the busy channels: the users actioned in the second half of each channel's
    actions, and how many the bot flagged before their action."""

    channels: int
    actioned: int
    flagged: int

    def figures(self) -> dict[str, object]:
        return {"channels": self.channels, "actioned": self.actioned, "flagged": self.flagged}


@dataclass(frozen=True, slots=True)
class Agreement:
    source: str
    scorer: str
    sensitivity: str
    #: whether the policy learned the channels' norms from the actions as they came
    learning: bool
    messages: int
    flags: int
    reports: int
    flagged_users: int
    flagged_users_actioned: int
    reported_users: int
    reported_users_actioned: int
    categories: tuple[CategoryAgreement, ...]
    flag_categories: tuple[FlagCategory, ...] = ()
    curve: tuple[CurvePoint, ...] = ()
    second_half: SecondHalf = SecondHalf(0, 0, 0)
    sample: tuple[ReportSample, ...] = field(default=())

    def per_10k(self, n: int) -> float:
        return 1e4 * n / self.messages if self.messages else 0.0

    @property
    def sample_read(self) -> int:
        """Sampled reports with a hand verdict."""
        return sum(1 for s in self.sample if s.justified is not None)

    @property
    def sample_justified(self) -> int:
        return sum(1 for s in self.sample if s.justified)

    def row(self, name: str) -> CategoryAgreement | None:
        return next((c for c in self.categories if c.category == name), None)

    def figures(self) -> dict[str, object]:
        return {
            "source": self.source,
            "scorer": self.scorer,
            "sensitivity": self.sensitivity,
            "learning": self.learning,
            "messages": self.messages,
            "flagged_users_per_10k": round(self.per_10k(self.flagged_users), 2),
            "flags": self.flags,
            "flags_per_10k": round(self.per_10k(self.flags), 2),
            "reports": self.reports,
            "reports_per_10k": round(self.per_10k(self.reports), 2),
            "flagged_users": self.flagged_users,
            "flagged_users_actioned": self.flagged_users_actioned,
            "reported_users": self.reported_users,
            "reported_users_actioned": self.reported_users_actioned,
            "categories": [c.figures() for c in self.categories],
            "flag_categories": [c.figures() for c in self.flag_categories],
            "learning_curve": [p.figures() for p in self.curve],
            "second_half": self.second_half.figures(),
            "sample": [s.figures() for s in self.sample],
            "sample_read": self.sample_read,
            "sample_justified": self.sample_justified,
        }


_AUDIT_COLUMNS = ("source", "msg_id", "sha256", "stratum", "label")
_HEX16 = re.compile("[0-9a-f]{16}")


def load_report_verdicts(path: Path = REPORT_AUDIT) -> Verdicts:
    """The hand verdicts in ``path`` by (source, msg_id); none when the file is absent. A
    malformed or repeated row is an error that names its line."""
    if not path.is_file():
        return {}
    verdicts: Verdicts = {}
    header: list[str] | None = None
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if header is None:
            header = cells
            if tuple(header) != _AUDIT_COLUMNS:
                raise ValueError(f"{path}:{n}: the header must be {', '.join(_AUDIT_COLUMNS)}")
            continue
        source, msg_id, digest, stratum, label = (*cells, "", "", "", "", "")[:5]
        if (
            len(cells) != len(_AUDIT_COLUMNS)
            or not (source and msg_id and stratum)
            or not _HEX16.fullmatch(digest)
            or label not in ("0", "1")
        ):
            raise ValueError(
                f"{path}:{n}: not source, msg_id, sha256 (16 lower-case hex digits), stratum, "
                "label (0 or 1)"
            )
        if (source, msg_id) in verdicts:
            raise ValueError(f"{path}:{n}: {source} message {msg_id} has a verdict already")
        verdicts[(source, msg_id)] = (digest, int(label))
    return verdicts


def load_events(data_dir: Path, source: str) -> list[ChatEvent]:
    """The source's events in time order over all its channels (stable: a message and the
    action on it in the same second keep the log's order)."""
    reader, _, _ = MODERATION_SOURCES[source]
    return sorted(reader(data_dir), key=lambda e: e.sent_at)


def score_events(
    scorer: Scorer,
    policy: Policy,
    events: Sequence[ChatEvent],
    *,
    batch: int = 2048,
    progress: Callable[[int], None] | None = None,
) -> list[Score | None]:
    """Each message's score (with evidence for what ``policy`` may flag), ``None`` for
    actions; in batches, as the pipeline scores them."""
    out: list[Score | None] = [None] * len(events)
    index = [i for i, e in enumerate(events) if e.action == "message"]
    for start in range(0, len(index), batch):
        chunk = index[start : start + batch]
        messages = [_message(events[i]) for i in chunk]
        scores = explain_flags(scorer, policy, messages, scorer.score([m.text for m in messages]))
        for i, s in zip(chunk, scores, strict=True):
            out[i] = s
        if progress is not None:
            progress(len(chunk))
    return out


def _message(event: ChatEvent) -> ChatMessage:
    return ChatMessage(
        msg_id=event.msg_id,
        channel=event.channel,
        login=event.login,
        display_name=event.login,
        text=event.text,
        sent_at=event.sent_at,
    )


def _action(event: ChatEvent) -> ClearChat | ClearMsg:
    """The action as the bot receives it over IRC."""
    if event.action == "delete":
        return ClearMsg(event.channel, event.login, None, "", sent_at=event.sent_at)
    duration = 600 if event.action == "timeout" else None  # the logs do not all say how long
    return ClearChat(event.channel, event.login, None, duration, sent_at=event.sent_at)


@dataclass(frozen=True, slots=True)
class Report:
    """One report the replay made."""

    key: Key
    score: float
    text: str
    reason: str
    msg_id: str


@dataclass(slots=True)
class Tally:
    """What a replay saw: message counts, each user's flag and report times, actions."""

    messages: int = 0
    flags: int = 0
    reports: int = 0
    flags_at: dict[Key, list[float]] = field(default_factory=dict)
    reports_at: dict[Key, list[float]] = field(default_factory=dict)
    #: first action on each actioned user: (time, category of the moderated message)
    actioned: dict[Key, tuple[float, str | None]] = field(default_factory=dict)
    #: every action's time, per user
    actions_at: dict[Key, list[float]] = field(default_factory=dict)
    #: how many actions the user's channel had seen before the user's first one
    seen_before: dict[Key, int] = field(default_factory=dict)
    #: the category of each flagged user's first flag (the bot's, e.g. ``repetition``)
    flag_category: dict[Key, str] = field(default_factory=dict)
    reported: list[Report] = field(default_factory=list)


def replay_events(
    policy: Policy, events: Iterable[ChatEvent], scores: Sequence[Score | None]
) -> Tally:
    """Run ``policy`` over the scored events in order — deciding on each message when it
    arrives, learning from each action when it happens; what it flagged and reported."""
    tally = Tally()
    channel_actions: dict[str, int] = {}
    for event, score in zip(events, scores, strict=True):
        key = (event.channel, event.login)
        if score is None:
            if key not in tally.actioned:
                tally.seen_before[key] = channel_actions.get(event.channel, 0)
            if key not in tally.actioned or tally.actioned[key][1] is None:
                first = tally.actioned.get(key, (event.sent_at, None))[0]
                tally.actioned[key] = (first, event.category)
            tally.actions_at.setdefault(key, []).append(event.sent_at)
            channel_actions[event.channel] = channel_actions.get(event.channel, 0) + 1
            policy.moderated(_action(event))
            continue
        tally.messages += 1
        decision = policy.decide(_message(event), score.probability, score.evidence, score.labels)
        if not decision.flagged:
            continue
        tally.flags += 1
        if key not in tally.flags_at:
            tally.flag_category[key] = _main_category(decision.labels, score)
        tally.flags_at.setdefault(key, []).append(event.sent_at)
        if decision.report_reason is not None:
            tally.reports += 1
            tally.reports_at.setdefault(key, []).append(event.sent_at)
            tally.reported.append(
                Report(key, score.probability, event.text, decision.report_reason, event.msg_id)
            )
    return tally


def _main_category(policy_labels: Sequence[str], score: Score) -> str:
    """What a flag is for, in one word: the policy's own category (a learned norm's, a
    filter's) first, else the scorer's first, else ``toxic``."""
    for label in (*policy_labels, *score.labels):
        return label
    return "toxic"


def _first_within(times: Sequence[float], at: float) -> float | None:
    """The earliest of ``times`` within :data:`HORIZON` before ``at``."""
    return next((t for t in times if at - HORIZON <= t <= at), None)


def _caught(tally: Tally, key: Key) -> tuple[float | None, bool]:
    """(the first flag's time, whether reported) within the horizon before the user's
    first action."""
    at = tally.actioned[key][0]
    first = _first_within(tally.flags_at.get(key, ()), at)
    reported = _first_within(tally.reports_at.get(key, ()), at) is not None
    return first, reported


def _actioned_later(tally: Tally, key: Key) -> bool:
    """Whether the moderators acted on ``key`` at or after the bot's first flag."""
    first = tally.flags_at[key][0]
    return any(t >= first for t in tally.actions_at.get(key, ()))


def _category_rows(tally: Tally) -> tuple[CategoryAgreement, ...]:
    groups: dict[str, list[Key]] = {_ALL_ROW: [], _TARGET_ROW: []}
    for key, (_, category) in tally.actioned.items():
        name = category or _UNLABELLED
        groups.setdefault(name, []).append(key)
        groups[_ALL_ROW].append(key)
        if category in TARGET_CATEGORIES:
            groups[_TARGET_ROW].append(key)
    rows = []
    for name, keys in groups.items():
        leads: list[float] = []
        flagged = reported = 0
        for key in keys:
            first, was_reported = _caught(tally, key)
            if first is not None:
                flagged += 1
                leads.append(tally.actioned[key][0] - first)
            reported += was_reported
        lead = round(statistics.median(leads), 1) if leads else None
        rows.append(CategoryAgreement(name, len(keys), flagged, reported, lead))
    head = [r for r in rows if r.category in (_TARGET_ROW, _ALL_ROW)]
    rest = sorted((r for r in rows if r not in head), key=lambda r: (-r.actioned, r.category))
    return (*head, *rest)


def _flag_rows(tally: Tally) -> tuple[FlagCategory, ...]:
    """Per category of the bot's first flag on each user: users, and how many of them the
    moderators actioned at or after it."""
    users: dict[str, list[Key]] = {}
    for key, category in tally.flag_category.items():
        users.setdefault(category, []).append(key)
    rows = [
        FlagCategory(name, len(keys), sum(_actioned_later(tally, k) for k in keys))
        for name, keys in users.items()
    ]
    return tuple(sorted(rows, key=lambda r: (-r.users, r.category)))


def _curve(tally: Tally) -> tuple[CurvePoint, ...]:
    """The catch rate by how many actions the user's channel had seen before theirs."""
    points = []
    for low, high in zip(CURVE_STEPS, (*CURVE_STEPS[1:], None), strict=True):
        keys = [k for k, n in tally.seen_before.items() if n >= low and (high is None or n < high)]
        flagged = sum(_caught(tally, k)[0] is not None for k in keys)
        points.append(CurvePoint(low, high, len(keys), flagged))
    return tuple(points)


def _second_half(tally: Tally) -> SecondHalf:
    """On channels with at least :data:`BUSY_CHANNEL` actioned users: those actioned in
    the second half of the channel's actions, and how many were caught."""
    by_channel: dict[str, list[Key]] = {}
    for key in sorted(tally.actioned, key=lambda k: tally.actioned[k][0]):
        by_channel.setdefault(key[0], []).append(key)
    busy = {ch: keys for ch, keys in by_channel.items() if len(keys) >= BUSY_CHANNEL}
    late = [k for keys in busy.values() for k in keys[len(keys) // 2 :]]
    caught = sum(_caught(tally, k)[0] is not None for k in late)
    return SecondHalf(len(busy), len(late), caught)


def summarize(
    tally: Tally,
    *,
    source: str,
    scorer: str,
    sensitivity: str,
    learning: bool = False,
    sample: int = 0,
    seed: int = 7,
    verdicts: Verdicts | None = None,
) -> Agreement:
    """The figures of ``tally``, with ``sample`` random reports to read and, for those in
    ``verdicts``, their hand verdict (a reference whose text hash differs is an error)."""
    actioned = tally.actioned
    reported_users = {r.key for r in tally.reported}
    picks: list[ReportSample] = []
    if sample > 0 and tally.reported:
        rng = random.Random(seed)
        chosen = rng.sample(tally.reported, min(sample, len(tally.reported)))
        for r in sorted(chosen, key=lambda r: -r.score):
            category = actioned[r.key][1] if r.key in actioned else None
            justified = _verdict(verdicts or {}, source, r)
            picks.append(
                ReportSample(
                    r.score, r.key in actioned, category, r.text, r.reason, r.msg_id, justified
                )
            )
    first_report = {k: times[0] for k, times in tally.reports_at.items()}
    return Agreement(
        source=source,
        scorer=scorer,
        sensitivity=sensitivity,
        learning=learning,
        messages=tally.messages,
        flags=tally.flags,
        reports=tally.reports,
        flagged_users=len(tally.flags_at),
        flagged_users_actioned=sum(_actioned_later(tally, key) for key in tally.flags_at),
        reported_users=len(reported_users),
        reported_users_actioned=sum(
            any(t >= first_report[k] for t in tally.actions_at.get(k, ())) for k in first_report
        ),
        categories=_category_rows(tally),
        flag_categories=_flag_rows(tally),
        curve=_curve(tally),
        second_half=_second_half(tally),
        sample=tuple(picks),
    )


def _verdict(verdicts: Verdicts, source: str, report: Report) -> bool | None:
    found = verdicts.get((source, report.msg_id)) if report.msg_id else None
    if found is None:
        return None
    digest, label = found
    if text_hash(report.text) != digest:
        raise DataNotFoundError(
            f"{source} message {report.msg_id} is not the one read by hand (hash {digest}): "
            "the data dir's copy of this log differs from the one audited"
        )
    return bool(label)


def measure_agreement(
    scorer: Scorer,
    new_policy: Callable[[bool], Policy],
    events: Sequence[ChatEvent],
    *,
    source: str,
    sensitivity: str,
    learning: bool = True,
    sample: int = 0,
    verdicts: Verdicts | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[Agreement, ...]:
    """Score ``events`` with ``scorer`` once and replay them through a fresh policy of
    ``new_policy(learning)``: with learning, and (beside it, to compare) without; without
    ``learning``, only the run without. The sample is drawn from the first run's reports."""
    scores = score_events(scorer, new_policy(False), events, progress=progress)
    runs = (True, False) if learning else (False,)
    results = []
    for learns in runs:
        tally = replay_events(new_policy(learns), events, scores)
        results.append(
            summarize(
                tally,
                source=source,
                scorer=scorer.version,
                sensitivity=sensitivity,
                learning=learns,
                sample=sample if learns == runs[0] else 0,
                verdicts=verdicts,
            )
        )
    return tuple(results)


def _pct(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.1f} %)" if whole else "–"


def agreement_markdown(results: Sequence[Agreement]) -> str:
    """Tables: the whole chat per source and run (learning on, off); per category of
    action; per category of the bot's flags; the learning curve and the busy channels'
    second half (when a run learned); and, for the sources whose sampled reports have hand
    verdicts, how many are justified."""

    def run(r: Agreement) -> str:
        return f"{r.source} ({'learning' if r.learning else 'no learning'})"

    lines = [
        "| run | scorer | sensitivity | messages | flagged users / 10k | reports / 10k "
        "| flagged users actioned later | reported users actioned later |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {run(r)} | {r.scorer} | {r.sensitivity} | {r.messages:,} "
            f"| {r.per_10k(r.flagged_users):.1f} | {r.per_10k(r.reports):.2f} "
            f"| {_pct(r.flagged_users_actioned, r.flagged_users)} "
            f"| {_pct(r.reported_users_actioned, r.reported_users)} |"
        )
    lines += [
        "",
        "| run | users actioned for | users | flagged before the action "
        "| reported before the action | median s from first flag to action |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        for c in r.categories:
            if c.actioned < 5 and c.category not in (_TARGET_ROW, _ALL_ROW):
                continue
            lead = "–" if c.median_lead is None else f"{c.median_lead:.0f}"
            lines.append(
                f"| {run(r)} | {c.category} | {c.actioned} | {_pct(c.flagged, c.actioned)} "
                f"| {_pct(c.reported, c.actioned)} | {lead} |"
            )
    lines += [
        "",
        "| run | users first flagged for | users | per 10k messages | actioned later |",
        "|---|---|---:|---:|---:|",
    ]
    for r in results:
        for f in r.flag_categories:
            lines.append(
                f"| {run(r)} | {f.category} | {f.users} | {r.per_10k(f.users):.1f} "
                f"| {_pct(f.actioned, f.users)} |"
            )
    learned = [r for r in results if r.learning]
    if learned:
        lines += [
            "",
            "| run | actions the channel had seen before | actioned users "
            "| flagged before the action |",
            "|---|---|---:|---:|",
        ]
        for r in results:
            for p in r.curve:
                lines.append(
                    f"| {run(r)} | {p.name} | {p.actioned} | {_pct(p.flagged, p.actioned)} |"
                )
        lines += [
            "",
            f"| run | channels with ≥ {BUSY_CHANNEL} actioned users | actioned in the second "
            "half of their timeline | flagged before the action |",
            "|---|---:|---:|---:|",
        ]
        for r in results:
            h = r.second_half
            lines.append(
                f"| {run(r)} | {h.channels} | {h.actioned} | {_pct(h.flagged, h.actioned)} |"
            )
    read = [r for r in results if r.sample_read]
    if read:
        lines += [
            "",
            "| source | sampled reports read by hand | justified by docs/labelling.md "
            "| justified and on actioned users |",
            "|---|---:|---:|---:|",
        ]
        for r in read:
            on_actioned = sum(1 for s in r.sample if s.justified and s.actioned)
            lines.append(
                f"| {r.source} | {r.sample_read} of {len(r.sample)} "
                f"| {_pct(r.sample_justified, r.sample_read)} "
                f"| {_pct(on_actioned, r.sample_justified)} |"
            )
    return "\n".join(lines) + "\n"
