"""The active policy, swapped atomically on reload.

A reload validates the new text completely (schema, env overrides, lint) before anything changes; an
invalid policy raises :class:`PolicyError` and the old one keeps serving. Readers take one reference to
``current`` per request, so a decision never mixes two policies.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hpcpolicy.engine import PolicySnapshot, compile_policy
from hpcpolicy.policy import LoadedPolicy, load_policy, parse_policy


@dataclass(frozen=True, slots=True)
class ActivePolicy:
    loaded: LoadedPolicy
    snapshot: PolicySnapshot
    text: str


class PolicyStore:
    def __init__(self, active: ActivePolicy, env: Mapping[str, str] | None = None):
        self._active = active
        self._env = env if env is not None else os.environ
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | Path | None, env: Mapping[str, str] | None = None) -> PolicyStore:
        env = env if env is not None else os.environ
        loaded = load_policy(path, env=env)
        text = Path(path).read_text(encoding="utf-8") if path else _example_text()
        return cls(ActivePolicy(loaded, compile_policy(loaded.policy, loaded.version), text), env)

    @property
    def current(self) -> ActivePolicy:
        return self._active

    def replace(self, text: str, source: str = "<upload>") -> ActivePolicy:
        """Validate ``text`` and make it the active policy; raises PolicyError and changes nothing if invalid."""
        loaded = parse_policy(text, source=source, env=self._env)
        active = ActivePolicy(loaded, compile_policy(loaded.policy, loaded.version), text)
        with self._lock:
            self._active = active
        return active


def _example_text() -> str:
    from hpcpolicy.policy import example_policy_path

    return example_policy_path().read_text(encoding="utf-8")
