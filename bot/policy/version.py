"""The policy's own revision, stored on every flag beside the scorer's version.

It follows from the content, so no change to a decision can go out under the old name and
nobody has to remember to bump a number:

* :data:`POLICY_VERSION` — a short hash of the code that decides: every module of
  ``bot/policy``, its cue lists, the norm learner (``bot/norms``) and :mod:`model.normalize`
  (the text the targeting grammar reads);
* :func:`config_digest` — a short hash of one channel's configuration (preset, thresholds,
  filters, exemptions, allowed and blocked terms), which :meth:`Policy.version
  <bot.policy.policy.Policy.version>` appends per channel.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, is_dataclass
from pathlib import Path

import model.normalize

__all__ = ["POLICY_VERSION", "config_digest", "deciding_files", "policy_digest"]

_HERE = Path(__file__).resolve().parent
_NORMS = _HERE.parent / "norms"
_NORMALIZE = Path(model.normalize.__file__).resolve()


def deciding_files(root: Path = _HERE) -> list[Path]:
    """The files whose content decides: the package's modules, its cue lists, the norm
    learner's modules, normalize."""
    files = sorted(root.glob("*.py"))
    files += sorted((root / "cues").glob("*.txt")) if (root / "cues").is_dir() else []
    return [*files, *sorted(_NORMS.glob("*.py")), _NORMALIZE]


def policy_digest(root: Path = _HERE) -> str:
    """Twelve hex digits of SHA-256 over :func:`deciding_files`, in that order."""
    digest = hashlib.sha256()
    for path in deciding_files(root):
        digest.update(path.name.encode())
        digest.update(b"\0")
        # line endings and trailing blanks do not change what the policy decides
        text = "\n".join(line.rstrip() for line in path.read_text(encoding="utf-8").splitlines())
        digest.update(text.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def config_digest(parts: object) -> str:
    """Eight hex digits of SHA-256 over ``parts`` (dataclasses, tuples, sets, scalars),
    written out in a canonical form: equal configurations give equal digests."""
    return hashlib.sha256(_canonical(parts).encode()).hexdigest()[:8]


def _canonical(value: object) -> str:
    if is_dataclass(value) and not isinstance(value, type):
        return _canonical(asdict(value))
    if isinstance(value, dict):
        items = sorted((str(k), _canonical(v)) for k, v in value.items())
        return "{" + ",".join(f"{k}:{v}" for k, v in items) + "}"
    if isinstance(value, frozenset | set):
        return "{" + ",".join(sorted(_canonical(v) for v in value)) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_canonical(v) for v in value) + "]"
    return repr(value)


POLICY_VERSION = f"policy-{policy_digest()}"
