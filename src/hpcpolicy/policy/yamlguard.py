"""YAML written by someone else, refused before it is composed if its shape could exhaust the process.

Composing is where YAML hurts: PyYAML's composer and everything that walks its node graph afterwards
(the policy loader's line index, the constructor, Pydantic) recurse once per level, and an alias is a
pointer that a walk follows again each time. Three shapes turn a few hundred bytes into a crash or
gigabytes: deep nesting (20,000 ``[`` give a RecursionError), an alias to a node still open (``&a [*a]``,
an infinite tree) and aliases of aliases (the "billion laughs": nine levels of ten aliases are 10⁹
nodes). :func:`check` reads the parser's events (an iterative state machine, nothing is built), keeps
for every anchor the size and height its node would have once every alias in it is expanded, and stops
at the first event that crosses a limit:

- :data:`MAX_DEPTH`: collections nested, counting what aliases bring in where they stand;
- an alias to an anchor whose collection has not ended yet (recursive);
- :data:`MAX_ALIAS_NODES`: nodes that aliases add, all aliases together (one ``&defaults`` block of a
  dozen values reused in fifty places adds 600: far below it).

The refusal is a :class:`YamlLimitError`, a ``yaml.MarkedYAMLError``, so code that already reports a
YAML syntax error with its line reports these too. Use :func:`compose` and :func:`safe_load` instead of
PyYAML's for any text that comes from a file or a request. Checking costs one extra parse, linear in the
text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

#: Deepest nesting of collections accepted (the example policy uses 9 levels).
MAX_DEPTH = 64
#: Nodes that aliases may add to a document once expanded, all aliases together.
MAX_ALIAS_NODES = 10_000

Anchors = dict[str, tuple[int, int]]
"""Anchor name → (expanded nodes, height) of its finished node."""


class YamlLimitError(yaml.MarkedYAMLError):
    """The text is refused for its shape; ``problem`` says which limit, ``problem_mark`` where."""

    def __init__(self, problem: str, mark: Any):
        super().__init__(problem=problem, problem_mark=mark)


@dataclass(slots=True)
class _Open:
    """A collection whose end event has not come yet: its anchor and, so far, its expanded size and height."""

    anchor: str | None
    nodes: int = 1
    height: int = 1


def check(text: str) -> None:
    """Raise :class:`YamlLimitError` if ``text`` nests too deep or has recursive or excessive aliases.

    Syntax errors are raised as PyYAML raises them (``yaml.YAMLError``), with the same messages.
    """
    stack: list[_Open] = []
    anchors: Anchors = {}
    added = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            if len(stack) + 1 > MAX_DEPTH:
                raise YamlLimitError(f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
            stack.append(_Open(event.anchor))
        elif isinstance(event, yaml.CollectionEndEvent):
            done = stack.pop()
            _finish(stack, anchors, done.anchor, done.nodes, done.height)
        elif isinstance(event, yaml.ScalarEvent):
            _finish(stack, anchors, event.anchor, 1, 0)
        elif isinstance(event, yaml.AliasEvent):
            added += _alias(stack, anchors, event, added)
        elif isinstance(event, yaml.DocumentEndEvent):
            anchors.clear()  # anchors do not reach into the next document


def _alias(stack: list[_Open], anchors: Anchors, event: yaml.AliasEvent, added: int) -> int:
    """Check one alias and count it into its parent; returns the nodes it adds."""
    name = event.anchor
    if any(frame.anchor == name for frame in stack):
        raise YamlLimitError(f"alias *{name} refers to its enclosing &{name} (a recursive structure)", event.start_mark)
    if name not in anchors:
        return 0  # an undefined alias: the composer reports it
    nodes, height = anchors[name]
    if len(stack) + height > MAX_DEPTH:
        raise YamlLimitError(f"alias *{name} nests the document deeper than {MAX_DEPTH} levels", event.start_mark)
    if added + nodes > MAX_ALIAS_NODES:
        raise YamlLimitError(
            f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes (at *{name}); write the values out instead",
            event.start_mark,
        )
    _finish(stack, anchors, None, nodes, height)
    return nodes


def _finish(stack: list[_Open], anchors: Anchors, anchor: str | None, nodes: int, height: int) -> None:
    """A node is complete: remember it under its anchor and add it to the collection that holds it."""
    if anchor is not None:
        anchors[anchor] = (nodes, height)
    if stack:
        parent = stack[-1]
        parent.nodes += nodes
        parent.height = max(parent.height, height + 1)


def compose(text: str) -> yaml.Node | None:
    """``yaml.compose`` with the safe loader, after :func:`check`."""
    check(text)
    return yaml.compose(text, Loader=yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """``yaml.safe_load``, after :func:`check`."""
    check(text)
    return yaml.safe_load(text)
