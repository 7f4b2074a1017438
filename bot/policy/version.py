"""The policy's own revision, stored on every flag beside the scorer's version.

It follows from the content: a short hash of the files that decide (the policy, its
sensitivity presets, the targeting grammar and its cue lists), so no change to the decision
can go out under the old name and nobody has to remember to bump a number.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["POLICY_VERSION", "policy_digest"]

_HERE = Path(__file__).resolve().parent
_DECIDING = ("policy.py", "sensitivity.py", "targeting.py")


def policy_digest(root: Path = _HERE) -> str:
    """Twelve hex digits of SHA-256 over the deciding files and the cue lists, in name order."""
    digest = hashlib.sha256()
    files = [root / name for name in _DECIDING]
    files += sorted((root / "cues").glob("*.txt")) if (root / "cues").is_dir() else []
    for path in files:
        digest.update(path.name.encode())
        digest.update(b"\0")
        # line endings and trailing blanks do not change what the policy decides
        text = "\n".join(line.rstrip() for line in path.read_text(encoding="utf-8").splitlines())
        digest.update(text.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


POLICY_VERSION = f"policy-{policy_digest()}"
