"""A key and a JWT user with the same name are different principals in every record and every check.

The attack: a user whose token says ``sub: alice`` reading what an API key named ``alice`` did, or a key
named ``alice`` reading user alice's jobs and balances, because both were compared as the string "alice".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hpcpolicy.auth import create_key
from hpcpolicy.engine import Request
from hpcpolicy.service import Governance
from tests.api.conftest import AppFactory
from tests.api.identities import bearer, secured_settings, token

CPU_JOB = {"partition": "cpu", "reserve": True}


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, dict[str, str]]:
    """Headers of: a gateway key named ``alice``, a plain key named ``carol``, an admin key ``ops``."""
    path = tmp_path / "keys.yaml"
    gateway_alice, _ = create_key(path, "alice", ["decide"], may_assert_identity=True)
    plain_carol, _ = create_key(path, "carol", ["decide"])
    ops, _ = create_key(path, "ops", ["admin"])
    return {"alice": {"X-API-Key": gateway_alice}, "carol": {"X-API-Key": plain_carol}, "ops": {"X-API-Key": ops}}


@pytest.fixture
def api(make_client: AppFactory, keys: dict[str, dict[str, str]], tmp_path: Path) -> TestClient:
    return make_client(secured_settings(tmp_path / "keys.yaml"))


def test_a_jwt_user_does_not_read_what_a_key_of_the_same_name_decided(
    api: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    made = api.post("/v1/decisions", json=CPU_JOB | {"user_id": "bob"}, headers=keys["alice"])
    assert made.status_code == 200, made.text
    path = f"/v1/decisions/{made.json()['decision_id']}"
    refused = api.get(path, headers=bearer(token("alice")))
    assert refused.status_code == 403 and refused.json()["detail"] == "this decision belongs to another user"
    own = api.get(path, headers=keys["alice"])
    assert own.status_code == 200 and own.json()["caller"] == "key:alice"
    assert api.get(path, headers=keys["ops"]).status_code == 200
    assert api.get(path, headers=bearer(token("bob"))).status_code == 200  # the user it was made for


def test_a_key_does_not_read_a_user_of_the_same_name(api: TestClient, keys: dict[str, dict[str, str]]) -> None:
    made = api.post("/v1/decisions", json=CPU_JOB, headers=bearer(token("carol")))
    assert made.status_code == 200 and made.json()["lien_id"]
    ref = made.json()["decision_id"]
    assert api.get(f"/v1/jobs/{ref}", headers=bearer(token("carol"))).status_code == 200
    assert api.get(f"/v1/jobs/{ref}", headers=keys["carol"]).status_code == 403
    assert api.get(f"/v1/decisions/{ref}", headers=keys["carol"]).status_code == 403
    balances = api.get("/v1/usage", headers=keys["carol"])
    assert balances.status_code == 403 and balances.json()["detail"] == "API key 'carol' may not read user:carol"


def test_untyped_callers_of_old_records_are_seen_by_trusted_callers_only(
    api: TestClient, gov: Governance, keys: dict[str, dict[str, str]]
) -> None:
    legacy = gov.decide(Request(user_id="bob", partition="cpu"), "alice")  # as written before principals
    path = f"/v1/decisions/{legacy.decision_id}"
    assert api.get(path, headers=bearer(token("alice"))).status_code == 403
    assert api.get(path, headers=keys["ops"]).status_code == 200
    assert api.get(path, headers=bearer(token("bob"))).status_code == 200


def test_adjustments_and_policy_uploads_record_the_typed_author(
    api: TestClient, gov: Governance, keys: dict[str, dict[str, str]]
) -> None:
    grant = {"scope": "user:bob", "kind": "grant", "cpu_hours": 5, "reason": "deadline"}
    by_key = api.post("/v1/adjustments", json=grant | {"idempotency_key": "k1"}, headers=keys["ops"])
    admin_user = bearer(token("dan", ["hpc_admin"]))
    by_user = api.post("/v1/adjustments", json=grant | {"idempotency_key": "k2"}, headers=admin_user)
    assert (by_key.json()["author"], by_user.json()["author"]) == ("key:ops", "user:dan")
    with gov.ctx.ledger.session() as tx:
        stored = [tx.find_adjustment(k) for k in ("k1", "k2")]
    assert [a.author for a in stored if a is not None] == ["key:ops", "user:dan"]
    text = api.get("/v1/policy", headers=keys["ops"]).json()["policy"]
    uploaded = api.put("/v1/policy", content=text.replace("gpu_user", "gpu_people"), headers=keys["ops"])
    assert uploaded.status_code == 200 and uploaded.json()["source"] == "upload by key:ops"
