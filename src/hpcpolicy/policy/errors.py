"""Policy problems, each pinned to a file, a line and a dotted path.

An admin reads these in a terminal or in a 422 response, so every issue says where (``policy.yaml:42``),
what (``partitions.dgx-a100.limits.max_gpus``) and why (``must be ≥ 0``), all issues at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Path = tuple[str | int, ...]


def dotted(path: Path) -> str:
    """``("clusters", "hpc", "partitions", 0)`` → ``clusters.hpc.partitions[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


@dataclass(frozen=True, slots=True)
class PolicyIssue:
    path: Path
    message: str
    severity: Literal["error", "warning"] = "error"
    source: str = "<policy>"
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        tag = "" if self.severity == "error" else "warning: "
        return f"{where} {dotted(self.path)}: {tag}{self.message}"

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "line": self.line,
            "path": dotted(self.path),
            "message": self.message,
            "severity": self.severity,
        }


class PolicyError(ValueError):
    """A policy that cannot be used. ``issues`` holds every error found (and any warnings)."""

    def __init__(self, issues: Sequence[PolicyIssue]):
        self.issues = list(issues)
        errors = [i for i in self.issues if i.severity == "error"]
        head = f"{len(errors)} error(s) in policy"
        super().__init__(head + ":\n" + "\n".join(f"  {i}" for i in self.issues))
