"""What changed between two policy texts, in a few words an auditor can read (the audit log's
``hpcpolicy.policy.revised`` events carry it; the texts themselves stay in the revisions table).

The summary names the settings that were added, removed or changed down to the second level
(``partitions.gpu``, ``quotas.team-a``, ``defaults``) and counts the lines of the text added and removed
(as multisets: a moved line is neither), so a comment-only edit shows as lines changed with no setting
changed.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import yaml

#: Long lists of names are cut: the event stays small whatever was uploaded.
MAX_NAMED = 50


def summarize(old_text: str | None, new_text: str) -> dict[str, Any]:
    """``{"lines_added", "lines_removed", "added", "removed", "changed"}`` from ``old_text`` (None for the
    first revision) to ``new_text``. Both texts are policies that loaded (so they parse)."""
    old_lines, new_lines = Counter((old_text or "").splitlines()), Counter(new_text.splitlines())
    added_lines, removed_lines = (new_lines - old_lines).total(), (old_lines - new_lines).total()
    old = _mapping(_load(old_text)) if old_text else {}
    new = _mapping(_load(new_text))
    added: list[str] = []
    removed: list[str] = []
    changed: list[str] = []
    for key in sorted(set(old) | set(new), key=str):
        if key not in old:
            added.append(str(key))
        elif key not in new:
            removed.append(str(key))
        elif old[key] != new[key]:
            inner_old, inner_new = old[key], new[key]
            if isinstance(inner_old, dict) and isinstance(inner_new, dict):
                for name in sorted(set(inner_old) | set(inner_new), key=str):
                    where = f"{key}.{name}"
                    if name not in inner_old:
                        added.append(where)
                    elif name not in inner_new:
                        removed.append(where)
                    elif inner_old[name] != inner_new[name]:
                        changed.append(where)
            else:
                changed.append(str(key))
    return {"lines_added": added_lines, "lines_removed": removed_lines, "added": added[:MAX_NAMED],
            "removed": removed[:MAX_NAMED], "changed": changed[:MAX_NAMED]}  # fmt: skip


def _load(text: str) -> Any:
    """Both texts passed the loader's guard (:mod:`hpcpolicy.policy.yamlguard`) when they were accepted, so
    the C parser reads them here: the guarded pure-Python one takes seconds on a large policy."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _mapping(value: object) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}
