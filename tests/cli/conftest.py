"""Helpers of the CLI tests."""

from __future__ import annotations

import os

import pytest


def clean_service_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drop the settings a developer's shell may carry (HPCPOLICY_*, database and Redis URLs), so a command
    under test sees only what the test gives it."""
    for name in list(os.environ):
        if name.startswith(("HPCPOLICY_", "MYSQL_")) or name in ("DATABASE_URL", "REDIS_URL"):
            monkeypatch.delenv(name)
