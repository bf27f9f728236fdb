"""The active policy, swapped atomically on reload.

A reload validates the new text completely (schema, env overrides, lint) before anything changes; an
invalid policy raises :class:`PolicyError` and the old one keeps serving. Readers take one reference to
``current`` per request, so a decision never mixes two policies.

Alone, the store is one process's memory (tests, the simulator, the CLI). A service with a shared
database attaches a :class:`PolicyDistribution` (``hpcpolicy.cluster.PolicySync``): ``replace`` then hands
the validated policy to it, which stores it as a revision before it serves anywhere.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hpcpolicy.engine import PolicySnapshot, compile_policy
from hpcpolicy.policy import LoadedPolicy, load_policy, parse_policy


@dataclass(frozen=True, slots=True)
class ActivePolicy:
    loaded: LoadedPolicy
    snapshot: PolicySnapshot
    text: str


class PolicyDistribution(Protocol):
    """Makes a validated policy active on every replica: persist, swap locally (``install``), announce."""

    def commit(self, active: ActivePolicy, author: str) -> None: ...

    def status(self) -> dict[str, Any]: ...

    def stop(self) -> None: ...


class PolicyStore:
    def __init__(self, active: ActivePolicy, env: Mapping[str, str] | None = None):
        self._active = active
        self._env = env if env is not None else os.environ
        self._lock = threading.Lock()
        self.distribution: PolicyDistribution | None = None

    @classmethod
    def from_file(cls, path: str | Path | None, env: Mapping[str, str] | None = None) -> PolicyStore:
        env = env if env is not None else os.environ
        loaded = load_policy(path, env=env)
        text = Path(path).read_text(encoding="utf-8") if path else _example_text()
        return cls(ActivePolicy(loaded, compile_policy(loaded.policy, loaded.version), text), env)

    @property
    def current(self) -> ActivePolicy:
        return self._active

    def validate(self, text: str, source: str) -> ActivePolicy:
        """Parse, check and compile ``text`` without making it active; raises PolicyError if invalid."""
        loaded = parse_policy(text, source=source, env=self._env)
        return ActivePolicy(loaded, compile_policy(loaded.policy, loaded.version), text)

    def install(self, active: ActivePolicy) -> None:
        with self._lock:
            self._active = active

    def replace(self, text: str, source: str = "<upload>", author: str = "") -> ActivePolicy:
        """Validate ``text`` and make it the active policy; raises PolicyError and changes nothing if invalid.

        With a distribution attached it goes through ``distribution.commit`` (which may raise
        LedgerUnavailable: then nothing changed either).
        """
        active = self.validate(text, source)
        if self.distribution is None:
            self.install(active)
        else:
            self.distribution.commit(active, author)
        return active


def _example_text() -> str:
    from hpcpolicy.policy import example_policy_path

    return example_policy_path().read_text(encoding="utf-8")
