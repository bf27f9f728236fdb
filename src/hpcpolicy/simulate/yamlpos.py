"""Line numbers for paths inside a YAML document, so a validation error can name the line to fix."""

from __future__ import annotations

from collections.abc import Sequence

import yaml

from hpcpolicy.policy.yamlguard import compose


def locate(text: str, path: Sequence[str]) -> int:
    """The 1-based line of the deepest node along ``path`` (mapping keys as text, sequence indexes as digits).

    Returns 1 when the document cannot be composed; stops at the last path element that exists.
    """
    try:
        node = compose(text)
    except yaml.YAMLError:
        return 1
    if node is None:
        return 1
    line = node.start_mark.line
    for part in path:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    line, child = key.start_mark.line, value
                    break
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            child = node.value[int(part)]
            line = child.start_mark.line
        if child is None:
            break
        node = child
    return line + 1
