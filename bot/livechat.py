"""``chatwarden evaluate --live-chat``: what a scorer does to real Twitch chat.

Replays real chat from the data dir (Korean and English, several channels) through a
scorer and the bot's policy and reports, per language: flagged messages and reported users
per 10,000 messages, the most-flagged normalised messages and a random sample of flags
stratified by score (for reading). Also the weak real moderation signal of the Korean logs:
how many of the messages that channel moderators or their bots answered with a ban or
timeout (the user's last message before a ``BAN:`` line) are flagged, against the flag rate
on users never banned.

Chat text is printed for reading only; what is written to files is aggregate figures.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bot.policy import Policy, PolicyConfig
from bot.replay import read_ban_targets, read_chat_log
from bot.twitch.events import ChatMessage
from model.normalize import normalize
from model.scorer import Scorer

__all__ = ["BanResult", "LiveChatResult", "default_logs", "evaluate_live_chat"]

_KO = "twitch_chat_ko_boostcamp/twitch"
_EN = "twitch_chat_en_madcookie"


def default_logs(data_dir: Path) -> dict[str, list[Path]]:
    """Three Korean channels (Chatty logs) and the English VOD chat with user names."""
    ko = [data_dir / _KO / f"#{name}.log.gz" for name in ("yd0821", "yapyap30", "runner0608")]
    en = [data_dir / _EN / "chat.log", *sorted((data_dir / _EN).glob("*.txt")),
          *sorted((data_dir / _EN / "dist").glob("*.txt"))]  # fmt: skip
    return {"ko": ko, "en": en}


@dataclass(frozen=True, slots=True)
class LiveChatResult:
    lang: str
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
        return {"lang": self.lang, "messages": self.messages, "flagged": self.flagged,
                "flagged_per_10k": round(self.flagged_per_10k, 1), "reports": self.reports,
                "users_reported": self.users_reported,
                "users_reported_per_10k": round(self.users_reported_per_10k, 2)}  # fmt: skip


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
        return {**asdict(self), "ban_recall": round(self.ban_recall, 4),
                "never_banned_flag_rate": round(self.never_banned_rate, 4)}  # fmt: skip


def _scores(scorer: Scorer, messages: Sequence[ChatMessage]) -> list[float]:
    out: list[float] = []
    for start in range(0, len(messages), 512):
        chunk = messages[start : start + 512]
        out += [s.probability for s in scorer.score([m.text for m in chunk])]
    return out


def evaluate_live_chat(
    scorer: Scorer,
    config: PolicyConfig,
    logs: dict[str, list[Path]],
    *,
    ban_logs: Sequence[Path] = (),
    sample: int = 20,
    seed: int = 7,
) -> tuple[list[LiveChatResult], BanResult | None]:
    rng = random.Random(seed)
    results = []
    ko_scored: list[tuple[ChatMessage, float]] = []
    for lang, paths in logs.items():
        policy = Policy(config)
        messages = [m for path in paths for m in read_chat_log(path)]
        scores = _scores(scorer, messages)
        flagged: list[tuple[float, str]] = []
        reports = 0
        reported: set[tuple[str, str]] = set()
        for message, score in zip(messages, scores, strict=True):
            decision = policy.decide(message, score)
            if decision.flagged:
                flagged.append((score, message.text))
            if decision.report_reason is not None:
                reports += 1
                reported.add((message.channel, message.user_key))
        if lang == "ko":
            ko_scored = list(zip(messages, scores, strict=True))
        top = Counter(normalize(text) for _, text in flagged).most_common(10)
        results.append(LiveChatResult(lang, len(messages), len(flagged), reports, len(reported),
                                      tuple(top), _stratified(flagged, sample, rng)))  # fmt: skip
    ban = _ban_result(scorer, config, ban_logs, ko_scored) if ban_logs else None
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
    config: PolicyConfig,
    ban_logs: Sequence[Path],
    ko_scored: list[tuple[ChatMessage, float]],
) -> BanResult:
    targets = [m for path in ban_logs for m in read_ban_targets(path)]
    banned = {m.login for m in targets}
    threshold = config.flag_threshold
    ban_flagged = sum(1 for s in _scores(scorer, targets) if s >= threshold)
    clean = [(m, s) for m, s in ko_scored if m.login not in banned]
    return BanResult(len(targets), ban_flagged, len(clean),
                     sum(1 for _, s in clean if s >= threshold))  # fmt: skip
