"""Each channel's norms, learned online from what its moderators remove
(:mod:`~bot.norms.learned`): the words they keep removing, against the channel's own chat
(:mod:`~bot.norms.evidence`), repetition, copypasta, links, begging, language
(:mod:`~bot.norms.context`, :mod:`~bot.norms.language`, :mod:`~bot.norms.text`).

Pure and synchronous, like the policy that asks it; imports nothing of the runtime.
"""

from bot.norms.learned import (
    CATEGORIES,
    ChannelNorms,
    LearnedKey,
    LearnedNorms,
    NormParams,
    NormsSummary,
    category_of,
)

__all__ = [
    "CATEGORIES",
    "ChannelNorms",
    "LearnedKey",
    "LearnedNorms",
    "NormParams",
    "NormsSummary",
    "category_of",
]
