"""Migration 0003 on a ledger holding data: nothing lost, ids compare alike, job ids unique per cluster."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select, text

from hpcpolicy.engine import Amounts
from hpcpolicy.ledger import Lien
from hpcpolicy.ledger.base import DuplicateKey
from hpcpolicy.ledger.sql.connect import create_ledger_engine
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.migrate import current_revision, head_revision, upgrade
from hpcpolicy.ledger.sql.rows import lien_row
from hpcpolicy.ledger.sql.tables import decisions, liens
from tests.dbservers import server_database
from tests.ledger.test_contract import lien

T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
MONTH = (T0 - timedelta(days=9, hours=12), T0 + timedelta(days=20))


def v0002(made: Lien) -> dict[str, object]:
    """A lien row as revision 0002 stored it (before hour weights and services)."""
    row = lien_row(made)
    del row["weight_cpu"], row["weight_gpu"], row["service"], row["closed_at"]
    return row


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def at_0002(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = create_ledger_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
        upgrade(engine, "0002")
        yield engine
        engine.dispose()
        return
    with server_database(request.param, suffix="_m3") as url:
        engine = create_ledger_engine(url)
        upgrade(engine, "0002")
        yield engine
        engine.dispose()


def test_upgrade_keeps_rows_and_scopes_job_ids_by_cluster(at_0002: Engine) -> None:
    with at_0002.begin() as conn:
        conn.execute(insert(liens), [v0002(lien("a", job_id="1234")), v0002(lien("b", user="Alice"))])
        conn.execute(
            insert(decisions),
            {"id": "d1", "at": T0.replace(tzinfo=None), "caller": "gateway", "user_id": "alice", "allow": True,
             "policy_version": "v", "request": {}, "decision": {}, "lien_id": "a", "key": "K"},
        )  # fmt: skip
    upgrade(at_0002)
    assert current_revision(at_0002) == head_revision()
    ledger = SqlLedger(at_0002)
    with ledger.session() as tx:
        assert [found.id for found in tx.find_liens_by_job("1234", "c")] == ["a"]
        # keys are case-sensitive; callers recorded untyped become legacy:<name>, which no caller is
        assert tx.find_decision("k") is None
        assert tx.get_decision("d1").caller == "legacy:gateway"  # type: ignore[union-attr]
        # "Alice" and "alice" are two users on every backend (MariaDB's default collation made them one)
        assert tx.reserved("user:alice", T0)[0] == Amounts(40.0, 0.0, 4.0)
        assert tx.reserved("user:Alice", T0)[0] == Amounts(40.0, 0.0, 4.0)
        tx.add_lien(lien("c", job_id="1234", cluster="other"))  # the same job id on another cluster
    with pytest.raises(DuplicateKey), ledger.session() as tx:
        tx.add_lien(lien("d", job_id="1234"))  # but not twice on one
    with at_0002.connect() as conn:
        assert conn.execute(select(liens.c.id).order_by(liens.c.id)).scalars().all() == ["a", "b", "c"]


def test_a_principal_of_255_characters_fits(at_0002: Engine) -> None:
    upgrade(at_0002)
    principal = "user:" + "u" * 191
    with at_0002.begin() as conn:
        conn.execute(
            insert(decisions),
            {"id": "d2", "at": T0.replace(tzinfo=None), "caller": principal, "user_id": "u" * 191, "allow": False,
             "policy_version": "v", "request": {}, "decision": {}, "lien_id": None, "key": None},
        )  # fmt: skip
        assert conn.execute(text("SELECT caller FROM decisions WHERE id = 'd2'")).scalar() == principal
