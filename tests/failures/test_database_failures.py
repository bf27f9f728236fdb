"""The service against a real PostgreSQL or MariaDB that goes away, comes back, or turns slow.

The database sits behind a TCP proxy (tests/faults.py) that the test cuts or slows; the server itself
keeps running, so afterwards the test reads exactly what was committed: every 2xx reservation and
nothing else.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from hpcpolicy.api import create_app
from hpcpolicy.auth import Authenticator
from hpcpolicy.cli.main import app as cli
from hpcpolicy.ledger.sql.connect import create_ledger_engine
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.tables import decisions, liens
from hpcpolicy.policy import example_policy_path
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from tests.api.conftest import dev_settings
from tests.dbservers import migrated_engine, server_database
from tests.faults import TcpProxy, proxied

NOW = datetime(2026, 11, 15, 12, tzinfo=UTC)
CPU_JOB = {"user_id": "alice", "partition": "cpu", "cpus": 2, "walltime_hours": 1, "reserve": True}
GPU_JOB = {"user_id": "bob", "partition": "gpu", "gpus": 1, "walltime_hours": 1, "reserve": True}

Client = Callable[..., TestClient]


@pytest.fixture(params=["postgresql", "mariadb"])
def database(request: pytest.FixtureRequest) -> Iterator[str]:
    with server_database(request.param, suffix="_faults") as url:
        migrated_engine(url).dispose()
        yield url


@pytest.fixture
def proxy(database: str) -> Iterator[tuple[TcpProxy, str]]:
    with proxied(database) as pair:
        yield pair


@pytest.fixture
def service(proxy: tuple[TcpProxy, str], tmp_path: Path) -> Iterator[Client]:
    clients: list[TestClient] = []
    engines = []

    def make(*, timeout: float = 2.0, workers: int = 4, fail_open_cpu: bool = False) -> TestClient:
        text = example_policy_path().read_text()
        if fail_open_cpu:
            text = text.replace(
                "        rates: {cpu_hour: 0.01, memory_gb_hour: 0.0005}\n",
                "        rates: {cpu_hour: 0.01, memory_gb_hour: 0.0005}\n        fail_open: true\n",
            )
        (tmp_path / "policy.yaml").write_text(text)
        engine = create_ledger_engine(proxy[1], connect_timeout=1, statement_timeout=timeout)
        engines.append(engine)
        gov = Governance(Context(SqlLedger(engine), PolicyStore.from_file(tmp_path / "policy.yaml"), clock=lambda: NOW))
        app = create_app(gov, Authenticator(dev_settings()), ledger_workers=workers, request_timeout=timeout)
        client = TestClient(app, raise_server_exceptions=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
    for engine in engines:
        engine.dispose()


def committed(url: str) -> tuple[set[str], int]:
    """Lien ids and the number of decision records, read straight from the database (not through the proxy)."""
    engine = create_ledger_engine(url)
    try:
        with engine.connect() as conn:
            lien_ids = set(conn.scalars(select(liens.c.id)))
            records = conn.scalar(select(func.count()).select_from(decisions)) or 0
    finally:
        engine.dispose()
    return lien_ids, records


def wait_until_ready(client: TestClient, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if client.get("/ready").status_code == 200:
            return
        time.sleep(0.2)
    raise AssertionError("the service did not become ready again")


def test_database_lost_mid_traffic_fails_closed_and_recovers(
    service: Client, proxy: tuple[TcpProxy, str], database: str
) -> None:
    client = service()
    admitted = [client.post("/v1/decisions", json=CPU_JOB).json()["lien_id"] for _ in range(5)]
    proxy[0].cut()
    for _ in range(3):
        refused = client.post("/v1/decisions", json=CPU_JOB)
        assert refused.status_code == 503
        assert refused.json()["title"] == "governance unavailable" and refused.headers["Retry-After"]
    check = {"user_id": "x", "cpu_hours": 1, "gpu_hours": 0, "gpus": 0}
    assert client.post("/quota/check", json=check).status_code == 503
    not_ready = client.get("/ready")
    assert not_ready.status_code == 503 and not_ready.json()["checks"]["database"].startswith("unavailable")
    assert client.get("/health").status_code == 200  # alive, just not ready: no restart needed
    proxy[0].restore()
    wait_until_ready(client)
    for _ in range(3):
        response = client.post("/v1/decisions", json=CPU_JOB)
        assert response.status_code == 200
        admitted.append(response.json()["lien_id"])
    lien_ids, records = committed(database)
    assert lien_ids == set(admitted) and records == len(admitted)


def test_connection_lost_inside_a_transaction_writes_nothing(
    service: Client, proxy: tuple[TcpProxy, str], database: str
) -> None:
    client = service(timeout=5.0)
    proxy[0].delay = 0.05  # stretch the transaction so the cut lands inside it
    outcome: list[int] = []
    request = threading.Thread(target=lambda: outcome.append(client.post("/v1/decisions", json=CPU_JOB).status_code))
    request.start()
    time.sleep(0.2)
    proxy[0].cut()
    request.join(10)
    assert outcome == [503]
    proxy[0].delay = 0
    proxy[0].restore()
    assert committed(database) == (set(), 0)


def test_slow_database_times_out_with_a_clear_error_and_commits_nothing(
    service: Client, proxy: tuple[TcpProxy, str], database: str
) -> None:
    client = service(timeout=0.5, workers=1)
    assert client.post("/v1/decisions", json=CPU_JOB).status_code == 200  # warm: pooled connection
    proxy[0].delay = 0.3
    slow = client.post("/v1/decisions", json=CPU_JOB)
    assert slow.status_code == 503
    assert "did not answer within 0.5 s" in slow.json()["detail"]
    proxy[0].delay = 0
    # one ledger thread: this request runs only after the abandoned one has finished (and rolled back)
    after = client.post("/v1/decisions", json=CPU_JOB)
    assert after.status_code == 200
    lien_ids, records = committed(database)
    assert len(lien_ids) == 2 and records == 2


def test_fail_open_partition_admits_without_the_ledger_and_others_fail_closed(
    service: Client, proxy: tuple[TcpProxy, str], database: str
) -> None:
    client = service(fail_open_cpu=True)
    proxy[0].cut()
    degraded = client.post("/v1/decisions", json=CPU_JOB)
    assert degraded.status_code == 200
    body = degraded.json()
    assert body["allow"] is True and body["lien_id"] is None and body["recorded"] is False
    assert "ledger unavailable" in body["degraded"] and body["remaining"] == {}
    too_long = client.post("/v1/decisions", json=CPU_JOB | {"walltime_hours": 500})
    assert too_long.status_code == 200 and too_long.json()["allow"] is False  # rules needing no usage still apply
    assert client.post("/v1/decisions", json=GPU_JOB).status_code == 503  # gpu fails closed
    compat = client.post("/jobs/evaluate", json={"user_id": "alice", "partition": "cpu", "gpus": 0, "memory_gb": 8})
    assert compat.status_code == 200 and compat.json()["allow"] is True
    metrics = client.get("/metrics").text
    assert 'hpcpolicy_decisions_total{outcome="allow_fail_open",reserved="false"}' in metrics
    proxy[0].restore()
    assert committed(database) == (set(), 0)


@pytest.mark.parametrize("scheme", ["postgresql+psycopg", "mysql+pymysql"])
def test_database_down_at_startup_is_a_clear_error_and_nonzero_exit(
    scheme: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = TcpProxy("127.0.0.1", 9)  # a port nothing listens on, taken and released
    port = dead.start()
    dead.stop()
    monkeypatch.chdir(tmp_path)
    url = f"{scheme}://root@127.0.0.1:{port}/test"
    result = CliRunner().invoke(cli, ["serve", "--database-url", url])
    assert result.exit_code == 1
    assert "cannot reach the ledger database" in result.stderr and f"127.0.0.1:{port}" in result.stderr
