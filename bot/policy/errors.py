"""Errors of the policy package, importable without loading its cue lists."""

from __future__ import annotations

__all__ = ["CueListError"]


class CueListError(RuntimeError):
    """A packaged cue list is missing or unreadable: the installation is broken."""
