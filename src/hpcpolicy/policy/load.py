"""Read a policy file: YAML → validated :class:`Policy`, with line numbers on every problem.

Steps, each of which may add issues: refuse YAML shaped to exhaust the process (yamlguard.py: deep
nesting, recursive or runaway aliases); parse YAML keeping node positions (duplicate keys are errors:
PyYAML would silently keep the last one and drop, say, a whole partition); validate the shape with
Pydantic; apply environment overrides; lint cross-references. Nothing is returned unless all of it is
clean, so a caller either gets a usable policy or a :class:`PolicyError` listing everything wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path as FsPath
from typing import Any

import yaml
from pydantic import ValidationError

from hpcpolicy.policy.errors import Path, PolicyError, PolicyIssue
from hpcpolicy.policy.lint import lint
from hpcpolicy.policy.schema import WINDOW_TAGS, Policy, Quota
from hpcpolicy.policy.schema.versions import version_issues
from hpcpolicy.policy.yamlguard import YamlLimitError, compose

#: Environment variables that override ``defaults.user_quota`` (names kept from the original service).
ENV_OVERRIDES: dict[str, tuple[str, type]] = {
    "DEFAULT_CPU_HOURS": ("cpu_hours", float),
    "DEFAULT_GPU_HOURS": ("gpu_hours", float),
    "MAX_CONCURRENT_JOBS": ("max_jobs", int),
}


@dataclass(frozen=True, slots=True)
class LoadedPolicy:
    """A valid policy and its identity. ``version`` changes whenever the effective policy changes."""

    policy: Policy
    version: str
    source: str
    warnings: tuple[PolicyIssue, ...] = ()


def example_policy_path() -> FsPath:
    """The example policy shipped inside the package (found from any working directory)."""
    return FsPath(str(resources.files("hpcpolicy") / "examples" / "policy.yaml"))


def load_policy(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> LoadedPolicy:
    """Load and validate a policy file (the packaged example when ``path`` is None)."""
    fs_path = FsPath(path) if path is not None else example_policy_path()
    try:
        text = fs_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError([PolicyIssue((), f"cannot read policy file: {exc.strerror}", source=str(fs_path))]) from exc
    return parse_policy(text, source=fs_path.name if path is None else str(path), env=env)


def parse_policy(text: str, source: str = "<policy>", env: Mapping[str, str] | None = None) -> LoadedPolicy:
    """Validate policy text. ``env`` supplies the override variables (pass ``os.environ`` to honour them)."""
    data, lines, issues = _parse_yaml(text, source)
    if issues:
        raise PolicyError(issues)
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError([_issue_from_pydantic(e, lines, source) for e in exc.errors()]) from None
    if newer := version_issues(policy):
        raise PolicyError([_locate(i, lines, source) for i in newer])
    policy, env_issues = _apply_env(policy, env or {}, source)
    found = env_issues + [_locate(i, lines, source) for i in lint(policy)]
    if any(i.severity == "error" for i in found):
        raise PolicyError(found)
    return LoadedPolicy(policy, policy_version(policy), source, tuple(found))


def policy_version(policy: Policy) -> str:
    """``<name>@<12 hex digits>``: a content hash of the effective policy (after env overrides)."""
    canonical = json.dumps(policy.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return f"{policy.metadata.name}@{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"


def _parse_yaml(text: str, source: str) -> tuple[Any, dict[Path, int], list[PolicyIssue]]:
    try:
        node = compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        kind = "YAML refused" if isinstance(exc, YamlLimitError) else "invalid YAML"
        return None, {}, [PolicyIssue((), f"{kind}: {problem}", source=source, line=line)]
    if node is None:
        return None, {}, [PolicyIssue((), "the policy file is empty", source=source, line=1)]
    lines: dict[Path, int] = {}
    issues: list[PolicyIssue] = []
    _index(node, (), lines, issues, source)
    loader = yaml.SafeLoader("")
    try:
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        return None, lines, [PolicyIssue((), f"invalid YAML: {exc}", source=source)]
    finally:
        loader.dispose()
    return data, lines, issues


def _index(node: yaml.Node, path: Path, lines: dict[Path, int], issues: list[PolicyIssue], source: str) -> None:
    """Record the line of every value, and flag duplicate mapping keys."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = (*path, key)
            if key in seen:
                issues.append(PolicyIssue(child, "duplicate key", source=source, line=key_node.start_mark.line + 1))
            seen.add(key)
            lines[child] = key_node.start_mark.line + 1
            _index(value_node, child, lines, issues, source)
            lines[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*path, i), lines, issues, source)


def _line_for(path: Path, lines: Mapping[Path, int]) -> int | None:
    """The line of ``path``, or of its nearest ancestor present in the file (a missing key's parent)."""
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None


def _locate(issue: PolicyIssue, lines: Mapping[Path, int], source: str) -> PolicyIssue:
    return PolicyIssue(issue.path, issue.message, issue.severity, source, _line_for(issue.path, lines))


_MESSAGES = {
    "greater_than_equal": "must be ≥ {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be ≤ {le}",
    "extra_forbidden": "unknown key (check its spelling)",
    "missing": "is required",
}


def _issue_from_pydantic(err: Any, lines: Mapping[Path, int], source: str) -> PolicyIssue:
    path = _file_path(tuple(err["loc"]), lines)
    template = _MESSAGES.get(err["type"])
    message = template.format(**err.get("ctx", {})) if template else err["msg"]
    if err["type"] not in {"missing", "extra_forbidden"} and "input" in err and not isinstance(err["input"], dict):
        message += f" (got {err['input']!r})"
    return PolicyIssue(path, message, source=source, line=_line_for(path, lines))


def _file_path(loc: Path, lines: Mapping[Path, int]) -> Path:
    """Drop Pydantic's union labels (``rolling``, ``function-after[...]``) so the path reads like the file.

    A location step is kept when the file has it, or when it is the last step (a missing key).
    """
    kept: Path = ()
    for i, step in enumerate(loc):
        label = step in WINDOW_TAGS or step == "[key]"  # "[key]": Pydantic's marker for a bad mapping key
        if (*kept, step) in lines or isinstance(step, int) or (i == len(loc) - 1 and not label):
            kept = (*kept, step)
    return kept


def _apply_env(policy: Policy, env: Mapping[str, str], source: str) -> tuple[Policy, list[PolicyIssue]]:
    updates: dict[str, float | int] = {}
    issues: list[PolicyIssue] = []
    for var, (field, kind) in ENV_OVERRIDES.items():
        raw = env.get(var)
        if raw is None or raw.strip() == "":
            continue
        try:
            value = kind(raw)
        except ValueError:
            issues.append(PolicyIssue(("env", var), f"must be a {kind.__name__} (got {raw!r})", source=source))
            continue
        if not value >= 0:  # written so that NaN is refused too (nan < 0 is False)
            issues.append(PolicyIssue(("env", var), f"must be ≥ 0 (got {raw!r})", source=source))
            continue
        updates[field] = value
    if not updates or issues:
        return policy, issues
    quota: Quota = policy.defaults.user_quota.model_copy(update=updates)
    defaults = policy.defaults.model_copy(update={"user_quota": quota})
    return policy.model_copy(update={"defaults": defaults}), []
