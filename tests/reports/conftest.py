"""Report tests run the ledger's reads on every backend: the in-memory ledger, SQLite, PostgreSQL, MariaDB."""

from tests.ledger.conftest import ledger  # noqa: F401 - fixture re-export
