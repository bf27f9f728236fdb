"""Groups over HTTP: a token's groups claim and a gateway's ``groups`` grant project membership and roles;
a token holder cannot add groups in the body; the compatible endpoints take ``groups`` like ``roles``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hpcpolicy.auth import create_key
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from tests.api.conftest import AppFactory, clients_of
from tests.api.identities import bearer, secured_settings, token
from tests.builders import PolicyBuilder, gpu_nodes
from tests.ledger.conftest import sqlite_ledger
from tests.service.conftest import Clock, clock  # noqa: F401 - fixture re-export

GPU_JOB = {"partition": "gpu", "gpus": 1, "walltime_hours": 1}


@pytest.fixture
def gov(tmp_path: Path, clock: Clock) -> Iterator[Governance]:  # noqa: F811
    """Project wgs, granted (with gpu_user) by group genomics-lab; nobody is listed but u."""
    policy = (
        PolicyBuilder()
        .set("apiVersion", "hpcpolicy/v2")
        .project("wgs", team="genomics")
        .project_quota("wgs", team="genomics", cpu_hours=1000)
        .partition("gpu", nodes=gpu_nodes(), rates={"cpu_hour": 1, "gpu_hour": {"a100": 2}})
        .set("groups", {"genomics-lab": {"projects": ["wgs"], "default_project": "wgs", "roles": ["gpu_user"]}})
    )
    path = tmp_path / "policy.yaml"
    path.write_text(policy.yaml())
    ledger = sqlite_ledger(tmp_path)
    yield Governance(Context(ledger, PolicyStore.from_file(path, env={}), clock=clock, lien_ttl=timedelta(hours=2)))
    ledger.engine.dispose()


@pytest.fixture
def make_client(gov: Governance) -> Iterator[AppFactory]:
    yield from clients_of(gov)


@pytest.fixture
def gateway_key(tmp_path: Path) -> str:
    key, _ = create_key(tmp_path / "keys.yaml", "api-gateway", ["decide"], may_assert_identity=True)
    return key


@pytest.fixture
def secured(make_client: AppFactory, gateway_key: str, tmp_path: Path) -> TestClient:
    return make_client(secured_settings(tmp_path / "keys.yaml"))


def test_a_tokens_groups_make_an_unlisted_user_a_member(secured: TestClient) -> None:
    headers = bearer(token("newbie", groups=["genomics-lab", "staff-all"]))
    decision = secured.post("/v1/decisions", json=GPU_JOB | {"reserve": True}, headers=headers).json()
    assert decision["allow"] is True, decision["violations"]  # gpu_user through the group
    assert decision["project"] == "wgs" and "project:wgs" in decision["remaining"]
    record = secured.get(f"/v1/decisions/{decision['decision_id']}", headers=headers).json()
    assert record["request"]["groups"] == ["genomics-lab"]  # only the groups the policy names are kept
    usage = secured.get("/v1/usage", params={"scope": "project:wgs"}, headers=headers)
    assert usage.status_code == 200  # a member through a group reads their project's balances
    other = secured.get("/v1/usage", params={"scope": "project:wgs"}, headers=bearer(token("outsider")))
    assert other.status_code == 403


def test_a_jwt_user_cannot_add_groups_in_the_body(secured: TestClient) -> None:
    body = GPU_JOB | {"groups": ["genomics-lab"], "project": "wgs"}
    decision = secured.post("/v1/decisions", json=body, headers=bearer(token("newbie"))).json()
    assert decision["allow"] is False
    assert {v["code"] for v in decision["violations"]} == {"project.not_member", "gpu.role_required"}
    for path in ("/quota/check", "/jobs/evaluate"):
        body = {"user_id": "newbie", "gpus": 1, "groups": ["genomics-lab"]}
        assert secured.post(path, json=body, headers=bearer(token("newbie"))).json()["allow"] is False


def test_a_gateway_asserts_groups(secured: TestClient, gateway_key: str) -> None:
    body = GPU_JOB | {"user_id": "newbie", "groups": ["genomics-lab"]}
    decision = secured.post("/v1/decisions", json=body, headers={"X-API-Key": gateway_key}).json()
    assert decision["allow"] is True and decision["project"] == "wgs"


@pytest.mark.parametrize("path", ["/quota/check", "/jobs/evaluate"])
def test_the_compatible_endpoints_take_groups(client: TestClient, path: str) -> None:
    body = {"user_id": "newbie", "gpus": 1, "partition": "gpu"}
    assert client.post(path, json=body).json()["allow"] is False
    assert client.post(path, json=body | {"groups": ["genomics-lab"]}).json()["allow"] is True


def test_a_token_with_hundreds_of_directory_groups_still_decides(secured: TestClient) -> None:
    groups = [f"dir-group-{i}" for i in range(600)] + ["genomics-lab"]
    response = secured.post("/v1/decisions", json=GPU_JOB, headers=bearer(token("newbie", groups=groups)))
    assert response.status_code == 200 and response.json()["allow"] is True
