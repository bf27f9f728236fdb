"""The service as bootstrap builds it: two replicas from the same settings, driven over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hpcpolicy.api import create_app
from hpcpolicy.auth import Authenticator
from hpcpolicy.bootstrap import build_governance
from hpcpolicy.service import Governance
from hpcpolicy.settings import ServiceSettings
from tests.api.conftest import dev_settings
from tests.cluster.conftest import eventually, example_text
from tests.cluster.redisserver import RedisServer

ENV = ("DATABASE_URL", "HPCPOLICY_DATABASE_URL", "MYSQL_HOST", "REDIS_URL", "HPCPOLICY_REDIS_URL", "HPCPOLICY_POLICY")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'shared.db'}")
    monkeypatch.setenv("HPCPOLICY_POLICY_POLL_SECONDS", "60")
    return monkeypatch


@pytest.fixture
def build() -> Iterator[list[Governance]]:
    built: list[Governance] = []
    yield built
    for gov in built:
        if gov.ctx.policies.distribution is not None:
            gov.ctx.policies.distribution.stop()
        gov.ctx.ledger.engine.dispose()  # type: ignore[attr-defined]


def replica(built: list[Governance]) -> Governance:
    gov = build_governance(ServiceSettings())
    built.append(gov)
    return gov


def client(gov: Governance) -> TestClient:
    return TestClient(create_app(gov, Authenticator(dev_settings())), raise_server_exceptions=False)


def test_two_replicas_share_policy_changes_over_http(
    env: pytest.MonkeyPatch, build: list[Governance], redis_server: RedisServer, tmp_path: Path
) -> None:
    env.setenv("REDIS_URL", redis_server.url)
    a = replica(build)
    other_file = tmp_path / "other.yaml"
    other_file.write_text(example_text("gpu_other"), encoding="utf-8")
    env.setenv("HPCPOLICY_POLICY", str(other_file))
    b = replica(build)  # a policy file never stored before becomes the newest revision
    assert "gpu_other" in b.ctx.policies.current.text

    sync_a, sync_b = a.ctx.policies.distribution, b.ctx.policies.distribution
    assert sync_a is not None and sync_b is not None
    sync_a.check()  # (polling is every 60 s here; the file's revision was stored, not broadcast)
    assert "gpu_other" in a.ctx.policies.current.text
    eventually(lambda: sync_a.status()["redis"] == sync_b.status()["redis"] == "connected")
    api_a, api_b = client(a), client(b)
    put = api_a.put("/v1/policy", content=example_text("gpu_wizard"), headers={"content-type": "application/yaml"})
    assert put.status_code == 200
    eventually(lambda: api_b.get("/v1/policy").json()["version"] == put.json()["version"])
    assert sync_b.status()["last_reload_via"] == "nudge"

    revision = sync_a.status()["revision"]
    refused = api_a.put("/v1/policy", content=example_text().replace("max_gpus: 16,", "max_gpus: -16,"))
    assert refused.status_code == 422 and sync_a.status()["revision"] == revision
    assert api_a.get("/v1/policy").json()["version"] == put.json()["version"]


def test_a_malformed_redis_url_leaves_the_service_polling(env: pytest.MonkeyPatch, build: list[Governance]) -> None:
    env.setenv("REDIS_URL", "http://127.0.0.1:1/")
    env.setenv("HPCPOLICY_POLICY_POLL_SECONDS", "0.2")
    a, b = replica(build), replica(build)
    sync_b = b.ctx.policies.distribution
    assert sync_b is not None
    eventually(lambda: sync_b.status()["redis"] == "unavailable")
    assert "invalid Redis URL" in str(sync_b.status()["redis_error"])
    a.ctx.policies.replace(example_text("gpu_wizard"), author="alice")
    eventually(lambda: "gpu_wizard" in b.ctx.policies.current.text)


def test_restart_with_an_unchanged_file_keeps_a_later_upload(
    env: pytest.MonkeyPatch, build: list[Governance], tmp_path: Path
) -> None:
    """The file wins only when its content is new: editing it and restarting applies it, while a replica
    restarting with the file it always had does not roll back a policy uploaded since."""
    path = tmp_path / "seed.yaml"
    path.write_text(example_text("gpu_seed"), encoding="utf-8")
    env.setenv("HPCPOLICY_POLICY", str(path))
    first = replica(build)
    first.ctx.policies.replace(example_text("gpu_uploaded"), author="admin")
    restarted = replica(build)  # same file, already stored: the upload stays
    assert "gpu_uploaded" in restarted.ctx.policies.current.text
    path.write_text(example_text("gpu_edited"), encoding="utf-8")
    edited = replica(build)  # the file changed: it becomes the newest revision
    assert "gpu_edited" in edited.ctx.policies.current.text
