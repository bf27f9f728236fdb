"""Where the test traces live: small excerpts in the repo, the full shared traces next to it (optional)."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "traces"
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "traces"  # ../shared/traces from the repo

needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="shared traces (../shared/traces) not present")
