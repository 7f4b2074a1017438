"""``chatwarden evaluate --live-chat``: what a scorer does to real Twitch chat.

Replays real chat from the data dir (Korean and English, several channels) through a
scorer and the bot's policy and reports, per chat (``ko``: three Korean channels, 2021;
``en``: VTuber VOD chat, 2021; ``en-esports``: three Smash and Dota esports channels,
2017): flagged messages and reported users
per 10,000 messages, the most-flagged normalised messages and a random sample of flags
stratified by score (for reading). Also the weak real moderation signal of the Korean logs:
how many of the messages that channel moderators or their bots answered with a ban or
timeout (the user's last message before a ``BAN:`` line) are flagged, against the flag rate
on users never banned.

Chat text is printed for reading only; what is written to files is aggregate figures.
"""

from __future__ import annotations

import csv
import hashlib
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bot.pipeline import explain_flags
from bot.policy.policy import Policy
from bot.policy.sensitivity import Sensitivity
from bot.replay import iter_log, read_ban_targets, read_chat_log
from bot.runtime import build_policy
from bot.settings import Settings
from bot.twitch.events import ChatMessage
from model.chatlogs import ban_logs, chat_of, live_chat_logs
from model.errors import DataNotFoundError
from model.normalize import normalize
from model.scorer import Score, Scorer

__all__ = [
    "BanResult",
    "LiveChatReport",
    "LiveChatResult",
    "default_logs",
    "evaluate_live_chat",
    "measure_live_chat",
    "text_hash",
    "write_live_chat",
]

#: The logs of each chat (``ko``, ``en``, ``en-esports``); they, and ``chat_of`` (which chat a
#: log belongs to), are part of the catalogue of the data dir's chat in :mod:`model.chatlogs`.
default_logs = live_chat_logs


@dataclass(frozen=True, slots=True)
class LiveChatResult:
    chat: str
    messages: int
    flagged: int
    reports: int
    users_reported: int
    top_flagged: tuple[tuple[str, int], ...]
    sample: tuple[tuple[float, str], ...]

    @property
    def flagged_per_10k(self) -> float:
        return 10_000 * self.flagged / max(1, self.messages)

    @property
    def users_reported_per_10k(self) -> float:
        return 10_000 * self.users_reported / max(1, self.messages)

    def figures(self) -> dict[str, float | int | str]:
        return {
            "chat": self.chat,
            "messages": self.messages,
            "flagged": self.flagged,
            "flagged_per_10k": round(self.flagged_per_10k, 1),
            "reports": self.reports,
            "users_reported": self.users_reported,
            "users_reported_per_10k": round(self.users_reported_per_10k, 2),
        }


@dataclass(frozen=True, slots=True)
class BanResult:
    ban_messages: int
    ban_flagged: int
    never_banned_messages: int
    never_banned_flagged: int

    @property
    def ban_recall(self) -> float:
        return self.ban_flagged / max(1, self.ban_messages)

    @property
    def never_banned_rate(self) -> float:
        return self.never_banned_flagged / max(1, self.never_banned_messages)

    def figures(self) -> dict[str, float | int]:
        return {
            **asdict(self),
            "ban_recall": round(self.ban_recall, 4),
            "never_banned_flag_rate": round(self.never_banned_rate, 4),
        }


def _verdicts(scorer: Scorer, policy: Policy, messages: Sequence[ChatMessage]) -> list[Score]:
    """What the bot's pipeline would see: scores, with evidence for what may be flagged."""
    scores: list[Score] = []
    for start in range(0, len(messages), 512):
        chunk = messages[start : start + 512]
        scores += scorer.score([m.text for m in chunk])
    return explain_flags(scorer, policy, messages, scores)


def evaluate_live_chat(
    scorer: Scorer,
    new_policy: Callable[[], Policy],
    logs: dict[str, list[Path]],
    *,
    ban_logs: Sequence[Path] = (),
    sample: int = 20,
    seed: int = 7,
) -> tuple[list[LiveChatResult], BanResult | None]:
    """Each chat of ``logs`` through ``scorer`` and a fresh policy of ``new_policy``."""
    rng = random.Random(seed)
    results = []
    ko_scored: list[tuple[ChatMessage, Score]] = []
    for chat, paths in logs.items():
        policy = new_policy()
        messages = [m for path in paths for m in read_chat_log(path)]
        verdicts = _verdicts(scorer, policy, messages)
        flagged: list[tuple[float, str]] = []
        reports = 0
        reported: set[tuple[str, str]] = set()
        for message, verdict in zip(messages, verdicts, strict=True):
            decision = policy.decide(message, verdict.probability, verdict.evidence, verdict.labels)
            if decision.flagged:
                flagged.append((verdict.probability, message.text))
            if decision.report_reason is not None:
                reports += 1
                reported.add((message.channel, message.user_key))
        if chat == "ko":
            ko_scored = list(zip(messages, verdicts, strict=True))
        top = Counter(normalize(text) for _, text in flagged).most_common(10)
        results.append(
            LiveChatResult(
                chat,
                len(messages),
                len(flagged),
                reports,
                len(reported),
                tuple(top),
                _stratified(flagged, sample, rng),
            )
        )
    ban = _ban_result(scorer, new_policy(), ban_logs, ko_scored) if ban_logs else None
    return results, ban


def _stratified(
    flagged: list[tuple[float, str]], n: int, rng: random.Random
) -> tuple[tuple[float, str], ...]:
    """Up to ``n`` flags, drawn evenly from the score quartiles of all flags."""
    if not flagged or n <= 0:
        return ()
    ordered = sorted(flagged)
    quarter = max(1, len(ordered) // 4)
    strata = [ordered[i : i + quarter] for i in range(0, len(ordered), quarter)][:4]
    picks: list[tuple[float, str]] = []
    for stratum in strata:
        picks += rng.sample(stratum, min(len(stratum), max(1, n // len(strata))))
    return tuple(sorted(picks, reverse=True)[:n])


def _ban_result(
    scorer: Scorer,
    policy: Policy,
    ban_logs: Sequence[Path],
    ko_scored: list[tuple[ChatMessage, Score]],
) -> BanResult:
    targets = [m for path in ban_logs for m in read_ban_targets(path)]
    banned = {m.login for m in targets}
    verdicts = _verdicts(scorer, policy, targets)
    ban_flagged = sum(
        1
        for m, v in zip(targets, verdicts, strict=True)
        if policy.flags(m, v.probability, v.evidence, labels=v.labels)
    )
    clean = [(m, v) for m, v in ko_scored if m.login not in banned]
    clean_flagged = sum(
        1 for m, v in clean if policy.flags(m, v.probability, v.evidence, labels=v.labels)
    )
    return BanResult(len(targets), ban_flagged, len(clean), clean_flagged)


#: Hand labels of real chat messages, as references into the data dir (no chat text).
LABELS = Path(__file__).resolve().parent / "labels" / "live_chat_dev.tsv"


@dataclass(frozen=True, slots=True)
class LabeledChat:
    message: ChatMessage
    lang: str
    stratum: str  # how it was sampled (docs/labelling.md)
    label: int
    chat: str  # which chat of `default_logs`


@dataclass(frozen=True, slots=True)
class LabelResult:
    chat: str
    messages: int
    toxic: int
    flagged: int
    true_flags: int

    @property
    def precision(self) -> float:
        return self.true_flags / self.flagged if self.flagged else float("nan")

    @property
    def recall(self) -> float:
        return self.true_flags / self.toxic if self.toxic else float("nan")

    def figures(self) -> dict[str, float | int | str]:
        return {
            **asdict(self),
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
        }


def _reference_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a label-reference TSV (``#`` lines are comments)."""
    with path.open(encoding="utf-8") as handle:
        return list(
            csv.DictReader((line for line in handle if not line.startswith("#")), delimiter="\t")
        )


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def load_labels(data_dir: Path, path: Path = LABELS) -> list[LabeledChat]:
    """Join the label references in ``path`` back to the chat text in ``data_dir``; a
    missing log or a line whose text hash differs is a clear error."""
    wanted: dict[str, dict[int, tuple[str, str, str, int]]] = {}
    for row in _reference_rows(path):
        wanted.setdefault(row["source"], {})[int(row["line"])] = (
            row["sha256"],
            row["lang"],
            row["stratum"],
            int(row["label"]),
        )
    out: list[LabeledChat] = []
    for source, lines in wanted.items():
        log = data_dir / source
        if not log.is_file():
            raise DataNotFoundError(f"labelled chat log missing: {log} (referenced by {path})")
        found = {n: m for n, _, m in iter_log(log) if n in lines and m is not None}
        for number, (digest, lang, stratum, label) in lines.items():
            message = found.get(number)
            if message is None or text_hash(message.text) != digest:
                raise DataNotFoundError(
                    f"{log} line {number} is not the labelled message (hash {digest}): "
                    "the data dir's copy of this log differs from the one labelled"
                )
            out.append(LabeledChat(message, lang, stratum, label, chat_of(source)))
    return out


#: Fresh audits of flags on chats `--live-chat` does not replay, as references (no text).
AUDIT = Path(__file__).resolve().parent / "labels" / "fresh_audit.tsv"


@dataclass(frozen=True, slots=True)
class AuditedChat:
    source: str  # the chat source or the log's top folder in the data dir
    stratum: str  # which rules' flags were audited (rules-r4-medium, …)
    message: ChatMessage  # user and channel unknown: these logs are not replayed
    label: int


@dataclass(frozen=True, slots=True)
class AuditResult:
    source: str
    stratum: str  # which rules' flags were audited (rules-r4-medium, …)
    audited: int  # flags drawn at random and read
    toxic: int  # of them, toxic by docs/labelling.md
    still_flagged: int  # of them, flagged by the scorer measured now
    true_flags: int  # toxic among those

    def figures(self) -> dict[str, int | str]:
        return asdict(self)


def load_audit(data_dir: Path, path: Path = AUDIT) -> list[AuditedChat]:
    """Join the audit references in ``path`` back to the chat text in ``data_dir``; a
    missing log or a message whose text hash differs is a clear error."""
    from model.chatlogs import CHAT_SOURCES

    wanted: dict[str, dict[int, tuple[str, str, int]]] = {}
    for row in _reference_rows(path):
        wanted.setdefault(row["source"], {})[int(row["index"])] = (
            row["sha256"],
            row["stratum"],
            int(row["label"]),
        )
    out = []
    for source, items in wanted.items():
        if "/" in source:  # a log in the data dir; `index` is its line number
            log = data_dir / source
            if not log.is_file():
                raise DataNotFoundError(f"audited chat log missing: {log} (referenced by {path})")
            texts = {n: m.text for n, _, m in iter_log(log) if n in items and m is not None}
        elif source in CHAT_SOURCES:  # `index` counts the source's non-empty messages
            texts = dict(enumerate(t for t in CHAT_SOURCES[source][1](data_dir) if t.strip()))
        else:
            raise DataNotFoundError(f"unknown chat source {source!r} in {path}")
        for index, (digest, stratum, label) in items.items():
            text = texts.get(index)
            if text is None or text_hash(text) != digest:
                raise DataNotFoundError(
                    f"{source} message {index} is not the audited one (hash {digest}): the "
                    "data dir's copy of this chat differs from the one audited"
                )
            name = source.split("/")[0]
            message = ChatMessage(f"audit-{source}-{index}", name, "?", "?", text, 0.0)
            out.append(AuditedChat(name, stratum, message, label))
    return out


def _in_order(key: tuple[str, str]) -> tuple[str, tuple[int | str, ...]]:
    """``(source, stratum)`` with the stratum's numbers compared as numbers."""
    source, stratum = key
    return source, tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", stratum))


def evaluate_audit(
    scorer: Scorer, policy: Policy, audit: Sequence[AuditedChat]
) -> list[AuditResult]:
    """Per chat and audit: how many audited flags the scorer still flags, and how many of
    those are toxic."""
    verdicts = _verdicts(scorer, policy, [x.message for x in audit])
    out = []
    # per chat, oldest rules first (r4 … r9, r10: the revision compared as a number)
    for source, stratum in sorted({(x.source, x.stratum) for x in audit}, key=_in_order):
        rows = [
            (x, v)
            for x, v in zip(audit, verdicts, strict=True)
            if (x.source, x.stratum) == (source, stratum)
        ]
        kept = [
            x.label
            for x, v in rows
            if policy.flags(x.message, v.probability, v.evidence, labels=v.labels)
        ]
        out.append(
            AuditResult(
                source, stratum, len(rows), sum(x.label for x, _ in rows), len(kept), sum(kept)
            )
        )
    return out


def evaluate_labels(
    scorer: Scorer, policy: Policy, labeled: Sequence[LabeledChat]
) -> list[LabelResult]:
    """Precision and recall of the policy's flags on hand-labelled chat, per chat."""
    verdicts = _verdicts(scorer, policy, [x.message for x in labeled])
    out = []
    for chat in sorted({x.chat for x in labeled}):
        rows = [(x, v) for x, v in zip(labeled, verdicts, strict=True) if x.chat == chat]
        flagged = [
            x
            for x, v in rows
            if policy.flags(x.message, v.probability, v.evidence, labels=v.labels)
        ]
        out.append(
            LabelResult(
                chat,
                len(rows),
                sum(x.label for x, _ in rows),
                len(flagged),
                sum(x.label for x in flagged),
            )
        )
    return out


# --- one run of `chatwarden evaluate --live-chat` ---------------------------------------

#: A terminal table: its column headers and its rows, every cell already text.
Table = tuple[list[str], list[list[str]]]


@dataclass(frozen=True, slots=True)
class LiveChatReport:
    """Everything one ``--live-chat`` run measured, for the terminal, JSON and markdown."""

    scorer: str  # the scorer's version
    scorer_name: str
    sensitivity: Sensitivity
    chats: tuple[LiveChatResult, ...]
    ban: BanResult | None
    labelled: tuple[LabelResult, ...]
    audit: tuple[AuditResult, ...]

    def figures(self) -> dict[str, object]:
        """The aggregate figures, for ``--json`` (no chat text)."""
        return {
            "scorer": self.scorer,
            "sensitivity": str(self.sensitivity),
            "chat": [r.figures() for r in self.chats],
            "bans": self.ban.figures() if self.ban else None,
            "labelled": [r.figures() for r in self.labelled],
            "audit": [r.figures() for r in self.audit],
        }

    def chat_table(self) -> Table:
        return (
            ["chat", "messages", "flagged", "flagged/10k", "users reported", "reported users/10k"],
            [
                [
                    r.chat,
                    f"{r.messages:,}",
                    f"{r.flagged:,}",
                    f"{r.flagged_per_10k:.1f}",
                    f"{r.users_reported:,}",
                    f"{r.users_reported_per_10k:.2f}",
                ]
                for r in self.chats
            ],
        )

    def labelled_table(self) -> Table:
        return (
            ["chat", "labelled", "toxic", "flagged", "precision", "recall"],
            [
                [
                    r.chat,
                    f"{r.messages}",
                    f"{r.toxic}",
                    f"{r.flagged}",
                    f"{r.precision:.0%}",
                    f"{r.recall:.0%}",
                ]
                for r in self.labelled
            ],
        )

    def audit_table(self) -> Table:
        return (
            ["chat", "audit of", "flags read", "toxic", "still flagged", "precision"],
            [
                [
                    a.source,
                    a.stratum,
                    f"{a.audited}",
                    f"{a.toxic}",
                    f"{a.still_flagged}",
                    f"{a.true_flags}/{a.still_flagged}",
                ]
                for a in self.audit
            ],
        )

    def markdown(self) -> str:
        """The section of ``docs/benchmarks.md``: one row per chat, the audits, the bans."""
        by_chat = {r.chat: r for r in self.labelled}
        rows = [
            f"| {self.scorer} | {self.sensitivity} | {r.chat} | {r.messages:,} | "
            f"{r.flagged_per_10k:.1f} | {r.users_reported_per_10k:.2f} | "
            + (
                f"{by_chat[r.chat].true_flags}/{by_chat[r.chat].flagged} | "
                f"{by_chat[r.chat].true_flags}/{by_chat[r.chat].toxic} |"
                if r.chat in by_chat
                else "- | - |"
            )
            for r in self.chats
        ]
        body = [
            "| scorer | sensitivity | chat | messages | flagged per 10k | "
            "users reported per 10k | labelled: precision | labelled: recall |",
            "|---|---|---|---:|---:|---:|---:|---:|",
            *rows,
        ]
        body.append(
            "\nFresh audits (random medium flags of the rules named, on chats that "
            "`--live-chat` does not replay, read by hand; toxic of those still flagged): "
            + "; ".join(
                f"{a.source} {a.stratum} {a.true_flags}/{a.still_flagged} ({a.audited} read)"
                for a in self.audit
            )
            + "."
        )
        if self.ban:
            body.append(
                f"\nBan signal: {self.ban.ban_flagged} of {self.ban.ban_messages} banned users' "
                f"last messages flagged ({self.ban.ban_recall:.1%}); "
                f"{self.ban.never_banned_rate:.2%} of never-banned users' messages flagged."
            )
        return "\n".join(body)


def measure_live_chat(
    scorer: Scorer,
    settings: Settings,
    data_dir: Path,
    *,
    sample: int = 20,
) -> LiveChatReport:
    """Replay the chats of :func:`default_logs`, the ban logs, the hand labels and the fresh
    audits through ``scorer`` and the bot's policy for ``settings``
    (:func:`bot.runtime.build_policy`: presets and chat filters as the bot runs them).

    Every log is checked first: a missing one is a clear error before minutes of scoring."""
    logs = default_logs(data_dir)
    for path in (p for paths in logs.values() for p in paths):
        if not path.is_file():
            raise FileNotFoundError(f"live-chat log missing: {path}")
    bans = ban_logs(data_dir)  # the Korean logs whose BAN: lines are BanResult's signal

    def new_policy() -> Policy:
        return build_policy(settings, scorer_threshold=scorer.threshold)

    results, ban = evaluate_live_chat(scorer, new_policy, logs, ban_logs=bans, sample=sample)
    labelled = evaluate_labels(scorer, new_policy(), load_labels(data_dir))
    audit = evaluate_audit(scorer, new_policy(), load_audit(data_dir))
    return LiveChatReport(
        scorer.version,
        scorer.name,
        settings.sensitivity,
        tuple(results),
        ban,
        tuple(labelled),
        tuple(audit),
    )


def write_live_chat(path: Path, report: LiveChatReport, model_uri: str | None) -> None:
    """Write the report's markdown as the section of ``path`` for this scorer and
    sensitivity, stamped with the command that makes it again."""
    from model.evaluation.evaluate import write_section

    env = f"CHATWARDEN_MODEL_URI={model_uri or 'rules'}"
    if str(report.sensitivity) != "medium":
        env += f" CHATWARDEN_SENSITIVITY={report.sensitivity}"
    write_section(
        path,
        f"live-chat:{report.scorer_name}:{report.sensitivity}",
        f"`{env} chatwarden evaluate --live-chat --write {path}`",
        report.markdown(),
    )
