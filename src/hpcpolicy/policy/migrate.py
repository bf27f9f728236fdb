"""``hpcpolicy policy migrate``: a v1 policy file rewritten as v2, every other character left as it was.

v2 is a superset of v1, so migrating a file is changing its ``apiVersion`` value and nothing else: the
comments, anchors, key order and layout an admin wrote stay (a YAML round trip through a parser would
drop them). The value is found through the YAML node of the top-level ``apiVersion`` key, so a comment or
a nested key that happens to read ``apiVersion: hpcpolicy/v1`` is not touched, and its quotes are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from hpcpolicy.policy.errors import PolicyError, PolicyIssue
from hpcpolicy.policy.load import LoadedPolicy, parse_policy
from hpcpolicy.policy.schema import API_VERSION
from hpcpolicy.policy.schema.versions import V1
from hpcpolicy.policy.yamlguard import compose


@dataclass(frozen=True, slots=True)
class Migrated:
    """The text to write (``changed`` False: the file was already v2 and ``text`` is it, unchanged)."""

    text: str
    changed: bool
    policy: LoadedPolicy


def migrate(text: str, source: str = "<policy>") -> Migrated:
    """Rewrite the ``apiVersion`` of policy ``text`` to v2 and check that the result is a valid v2 policy.

    A v1 file that already uses v2 constructs (refused as v1 with "write apiVersion: hpcpolicy/v2") is
    migrated too: that is the one thing wrong with it. Otherwise the file must load as it is. Raises
    :class:`PolicyError` with every problem of the file (fix those first), or refusing when the rewritten
    text would not read as the same policy at v2 (a version written with escapes or an alias).
    """
    before: LoadedPolicy | None = None
    problems: PolicyError | None = None
    try:
        before = parse_policy(text, source)
    except PolicyError as exc:
        problems = exc
    if before is not None and before.policy.apiVersion == API_VERSION:
        return Migrated(text, False, before)
    span = v1_span(text)
    if span is None:  # not even a v1 header to rewrite: the file's own errors say why
        raise problems or _refused(source, 1)
    start, end = span
    new = text[:start] + text[start:end].replace(V1, API_VERSION) + text[end:]
    after = parse_policy(new, source)  # the file's problems at v2, if any, are raised from here
    same = before is None or _meaning(before) == _meaning(after)
    if after.policy.apiVersion != API_VERSION or not same:
        raise _refused(source, text.count("\n", 0, start) + 1)
    return Migrated(new, True, after)


def _meaning(loaded: LoadedPolicy) -> dict[str, object]:
    return loaded.policy.model_dump(exclude={"apiVersion"})


def _refused(source: str, line: int) -> PolicyError:
    message = "is written in a form this tool does not rewrite (an escape, an alias): write hpcpolicy/v2 by hand"
    return PolicyError([PolicyIssue(("apiVersion",), message, source=source, line=line)])


def v1_span(text: str) -> tuple[int, int] | None:
    """Where the value of the top-level ``apiVersion: hpcpolicy/v1`` is written (quotes included), if it is."""
    try:
        root = compose(text)
    except yaml.YAMLError:
        return None
    if not isinstance(root, yaml.MappingNode):
        return None
    for key, value in root.value:
        if key.value == "apiVersion" and isinstance(value, yaml.ScalarNode) and value.value == V1:
            return value.start_mark.index, value.end_mark.index
    return None
