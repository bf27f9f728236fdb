"""Writing report files so that a reader never sees half of one: all or nothing, for several files at once.

Each file is written to a temporary file in its own directory (so the final rename stays on one
filesystem and is atomic), flushed to disk, and renamed over the target only after every file of the
batch was written. If anything fails, the temporary files are removed and no target is touched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path


def write_all(files: Mapping[Path, str]) -> None:
    """Write every ``path → text`` or none of them (an ``OSError`` leaves the targets as they were)."""
    staged: list[tuple[str, Path]] = []
    try:
        for path, text in files.items():
            handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or Path("."))
            staged.append((temp, path))
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
        for temp, path in staged:
            os.replace(temp, path)
        staged.clear()
    finally:
        for temp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
