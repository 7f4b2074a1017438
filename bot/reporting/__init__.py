"""Reports to moderators: one Discord embed per reported user, sent from the outbox.

Three parts, each knowing only what it needs: :mod:`~bot.reporting.render` turns stored
rows into an embed (no I/O), :mod:`~bot.reporting.discord` knows Discord's limits and its
webhook API (no database), and :mod:`~bot.reporting.outbox` moves pending reports from the
database to a sender.
"""

from bot.reporting.discord import DiscordSender, LogSender, Sender, SendResult
from bot.reporting.outbox import OutboxWorker, log_pending

__all__ = ["DiscordSender", "LogSender", "OutboxWorker", "SendResult", "Sender", "log_pending"]
