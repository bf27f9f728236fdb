"""Which database errors mean what: a transaction to run again (contention) or a database gone (unavailable)."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

# Deadlock and serialization failures: the transaction was rolled back and may simply be run again.
_CONTENTION_SQLSTATES = {"40001", "40P01", "55P03"}  # PostgreSQL: serialization, deadlock, lock not available
_CONTENTION_MYSQL_CODES = {1205, 1213}  # lock wait timeout, deadlock


def is_contention(exc: DBAPIError) -> bool:
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in _CONTENTION_SQLSTATES:
        return True
    args: tuple[object, ...] = getattr(orig, "args", ())
    return bool(args) and args[0] in _CONTENTION_MYSQL_CODES


def is_operational(exc: DBAPIError) -> bool:
    return type(exc.orig).__name__ in {"OperationalError", "InterfaceError"} or "Operational" in type(exc).__name__


#: SQLite's "database is locked" and "database table is locked" (the primary result codes).
_SQLITE_BUSY_CODES = {5, 6}


def is_sqlite_busy(exc: DBAPIError) -> bool:
    """SQLite refused a lock another connection holds (with no busy timeout left to wait); extended codes
    (``SQLITE_BUSY_RECOVERY``…) included."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in _SQLITE_BUSY_CODES
