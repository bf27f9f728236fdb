"""The SQL ledger (SQLAlchemy Core): SQLite embedded by default, PostgreSQL and MariaDB/MySQL in production."""
