"""Where in the policy text a violation's rule is written: the lines an auditor reads next to a denial.

A violation names its scope (``partition:gpu``, ``project:wgs-cohort#dgx``, ``team:genomics``,
``qos:long``, ``user:carol#per_user:dgx-a100``); the policy defines that scope under a section of the
same kind (``partitions:``, ``projects:``, ...). The block found is the scope's definition, narrowed to
the quota named after ``#`` when there is one. Guards (``gpu.role_required``, ``cost.role_required``)
live under ``guards:``; the budget of a user the policy does not list is ``defaults.user_quota``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from hpcpolicy.policy.yamlguard import compose

_SECTIONS = {"partition": "partitions", "project": "projects", "team": "teams", "org": "orgs", "user": "users",
             "qos": "qos", "cluster": "clusters"}  # fmt: skip
_GUARDS = {"gpu.role_required": "gpu", "cost.role_required": "expensive_job"}
#: An excerpt longer than this is cut (a whole org's definition says little about one rule).
MAX_LINES = 30


@dataclass(frozen=True, slots=True)
class Excerpt:
    first: int  # 1-based line numbers, inclusive
    last: int
    text: str


def excerpt(policy_text: str, code: str, scope: str) -> Excerpt | None:
    """The lines of ``policy_text`` that define the rule behind a violation (``code`` at ``scope``)."""
    try:
        root = compose(policy_text)
    except yaml.YAMLError:
        return None
    if root is None:
        return None
    if code in _GUARDS:
        node = _child(_child(root, "guards"), _GUARDS[code])
    else:
        kind, _, rest = scope.partition(":")
        name, _, quota = re.split(r"/", rest, maxsplit=1)[0].partition("#")
        if quota.startswith("per_user:"):  # a partition's per-user cap, counted on the user
            kind, name, quota = "partition", quota.partition(":")[2], "per_user"
        node = _find(root, _SECTIONS.get(kind, ""), name)
        if node is None and kind == "user":  # a user the policy does not list: the default user quota
            node = _child(_child(root, "defaults"), "user_quota")
        if node is not None and quota:
            node = _find_quota(node, quota) or node
    if node is None:
        return None
    return _lines(policy_text, node)


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value in node.value:
            if key_node.value == key:
                return value  # type: ignore[no-any-return]
    return None


def _find(node: yaml.Node, section: str, name: str) -> yaml.Node | None:
    """The first ``section: {name: ...}`` anywhere in the tree (depth first, in document order)."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value in node.value:
            if key_node.value == section and (found := _child(value, name)) is not None:
                return found
            if (deeper := _find(value, section, name)) is not None:
                return deeper
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            if (deeper := _find(item, section, name)) is not None:
                return deeper
    return None


def _find_quota(node: yaml.Node, quota: str) -> yaml.Node | None:
    """Inside a scope's block: a mapping keyed ``quota`` or an item with ``name: quota`` (or ``id``)."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value in node.value:
            if key_node.value == quota:
                return value  # type: ignore[no-any-return]
            if key_node.value in ("name", "id") and getattr(value, "value", None) == quota:
                return node
            if (deeper := _find_quota(value, quota)) is not None:
                return deeper
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            if (deeper := _find_quota(item, quota)) is not None:
                return deeper
    return None


def _lines(text: str, node: yaml.Node) -> Excerpt:
    lines = text.splitlines()
    first = node.start_mark.line  # 0-based; a block mapping's key line is the line before its first child
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.flow_style is False and first > 0:
        first -= 1
    last = min(node.end_mark.line, len(lines) - 1)
    if last > first and not lines[last][: node.end_mark.column].strip():
        last -= 1  # the node ends where the next key begins: that line is not the node's
    while last > first and (lines[last].strip().startswith("#") or not lines[last].strip()):
        last -= 1  # trailing comments and blank lines belong to what follows
    last = max(first, min(last, first + MAX_LINES - 1))
    return Excerpt(first + 1, last + 1, "\n".join(lines[first : last + 1]))
