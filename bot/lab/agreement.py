"""Agreement with real moderators: ``chatwarden evaluate --moderation``.

Real chat with the channel moderators' bans and timeouts (:mod:`bot.lab.modlogs`) is
replayed in time order through the bot's own scorer and policy, exactly as the pipeline
decides (scores, occlusion evidence for what may be flagged, :meth:`Policy.decide` on each
message with the message's own time). A user is *actioned* at the first moderator action on
them in that channel. For each category of the moderated message (the annotators' norm in
``twitch_normvio_en``) the measure is the share of actioned users whom the bot flagged, and
reported, **before** the action, and how many seconds ahead its first flag came. Over all
chat: flags and reports per 10,000 messages and the share of the bot's flagged and reported
users whom the moderators actioned — a lower bound on precision, since each window of the
log records only the action that opened it.

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
from bot.twitch.events import ChatMessage
from model.errors import DataNotFoundError
from model.scorer import Score, Scorer

__all__ = [
    "REPORT_AUDIT",
    "TARGET_CATEGORIES",
    "Agreement",
    "CategoryAgreement",
    "Report",
    "ReportSample",
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
class Agreement:
    source: str
    scorer: str
    sensitivity: str
    messages: int
    flags: int
    reports: int
    flagged_users: int
    flagged_users_actioned: int
    reported_users: int
    reported_users_actioned: int
    categories: tuple[CategoryAgreement, ...]
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
            "messages": self.messages,
            "flags": self.flags,
            "flags_per_10k": round(self.per_10k(self.flags), 2),
            "reports": self.reports,
            "reports_per_10k": round(self.per_10k(self.reports), 2),
            "flagged_users": self.flagged_users,
            "flagged_users_actioned": self.flagged_users_actioned,
            "reported_users": self.reported_users,
            "reported_users_actioned": self.reported_users_actioned,
            "categories": [c.figures() for c in self.categories],
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
    reader, _, _ = MODERATION_SOURCES[source]
    return list(reader(data_dir))


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
    actioned: dict[Key, tuple[float, str | None]] = field(default_factory=dict)
    reported: list[Report] = field(default_factory=list)


def replay_events(
    policy: Policy, events: Iterable[ChatEvent], scores: Sequence[Score | None]
) -> Tally:
    """Run ``policy`` over the scored events in order; what it flagged and reported."""
    tally = Tally()
    for event, score in zip(events, scores, strict=True):
        key = (event.channel, event.login)
        if score is None:
            if key not in tally.actioned or tally.actioned[key][1] is None:
                first = tally.actioned.get(key, (event.sent_at, None))[0]
                tally.actioned[key] = (first, event.category)
            continue
        tally.messages += 1
        decision = policy.decide(_message(event), score.probability, score.evidence, score.labels)
        if not decision.flagged:
            continue
        tally.flags += 1
        tally.flags_at.setdefault(key, []).append(event.sent_at)
        if decision.report_reason is not None:
            tally.reports += 1
            tally.reports_at.setdefault(key, []).append(event.sent_at)
            tally.reported.append(
                Report(key, score.probability, event.text, decision.report_reason, event.msg_id)
            )
    return tally


def _first_within(times: Sequence[float], at: float) -> float | None:
    """The earliest of ``times`` within :data:`HORIZON` before ``at``."""
    return next((t for t in times if at - HORIZON <= t <= at), None)


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
            at = tally.actioned[key][0]
            first = _first_within(tally.flags_at.get(key, ()), at)
            if first is not None:
                flagged += 1
                leads.append(at - first)
            if _first_within(tally.reports_at.get(key, ()), at) is not None:
                reported += 1
        lead = round(statistics.median(leads), 1) if leads else None
        rows.append(CategoryAgreement(name, len(keys), flagged, reported, lead))
    head = [r for r in rows if r.category in (_TARGET_ROW, _ALL_ROW)]
    rest = sorted((r for r in rows if r not in head), key=lambda r: (-r.actioned, r.category))
    return (*head, *rest)


def summarize(
    tally: Tally,
    *,
    source: str,
    scorer: str,
    sensitivity: str,
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
    return Agreement(
        source=source,
        scorer=scorer,
        sensitivity=sensitivity,
        messages=tally.messages,
        flags=tally.flags,
        reports=tally.reports,
        flagged_users=len(tally.flags_at),
        flagged_users_actioned=sum(1 for key in tally.flags_at if key in actioned),
        reported_users=len(reported_users),
        reported_users_actioned=sum(1 for key in reported_users if key in actioned),
        categories=_category_rows(tally),
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
    policy_factory: Callable[[], Policy],
    events: Sequence[ChatEvent],
    *,
    source: str,
    sensitivity: str,
    sample: int = 0,
    verdicts: Verdicts | None = None,
    progress: Callable[[int], None] | None = None,
) -> Agreement:
    """Score ``events`` with ``scorer`` and replay them through a fresh policy."""
    scores = score_events(scorer, policy_factory(), events, progress=progress)
    tally = replay_events(policy_factory(), events, scores)
    return summarize(
        tally,
        source=source,
        scorer=scorer.version,
        sensitivity=sensitivity,
        sample=sample,
        verdicts=verdicts,
    )


def _pct(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.1f} %)" if whole else "–"


def agreement_markdown(results: Sequence[Agreement]) -> str:
    """Two tables, the whole chat per source and per category of action, and a third for
    the sources whose sampled reports have hand verdicts: how many are justified."""
    lines = [
        "| source | scorer | sensitivity | messages | flags / 10k | reports / 10k "
        "| flagged users actioned | reported users actioned |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.source} | {r.scorer} | {r.sensitivity} | {r.messages:,} "
            f"| {r.per_10k(r.flags):.1f} | {r.per_10k(r.reports):.2f} "
            f"| {_pct(r.flagged_users_actioned, r.flagged_users)} "
            f"| {_pct(r.reported_users_actioned, r.reported_users)} |"
        )
    lines += [
        "",
        "| source | users actioned for | users | flagged before the action "
        "| reported before the action | median s from first flag to action |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        for c in r.categories:
            if c.actioned < 5 and c.category not in (_TARGET_ROW, _ALL_ROW):
                continue
            lead = "–" if c.median_lead is None else f"{c.median_lead:.0f}"
            lines.append(
                f"| {r.source} | {c.category} | {c.actioned} | {_pct(c.flagged, c.actioned)} "
                f"| {_pct(c.reported, c.actioned)} | {lead} |"
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
