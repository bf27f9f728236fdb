"""Replace a file so that its readers see the old content or the new, never a part or nothing.

Files other programs read while we write them need this: ``job_submit.lua`` (slurmctld reloads it when its
modification time changes; a shell's ``> job_submit.lua`` truncates it before the generator has even run)
and the keys file (the server re-reads it on change). The new content goes to a temporary file in the
same directory (so ``os.replace`` is an atomic rename on one filesystem), is flushed to disk, takes the
mode (and, where the process may, the owner) of the file it replaces, and is renamed over it; the
directory is synced so the rename survives a crash. Any failure removes the temporary file and leaves the
old file as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

#: Mode of a new file unless the caller asks for another: readable by all, like a config file.
DEFAULT_MODE = 0o644


def write_atomically(path: Path, text: str, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` atomically; ``mode`` None keeps an existing file's mode (else 0644).

    Raises OSError (nothing changed) if the directory is missing or not writable, the disk is full, ...
    """
    try:
        old: os.stat_result | None = path.stat()
    except FileNotFoundError:
        old = None
    if mode is None:
        mode = old.st_mode & 0o7777 if old is not None else DEFAULT_MODE
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        if old is not None:
            with contextlib.suppress(PermissionError):  # only root may give a file away; others keep theirs
                os.chown(tmp, old.st_uid, old.st_gid)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable; not every filesystem allows this
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
