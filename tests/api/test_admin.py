"""Policy hot reload and adjustments."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from hpcpolicy.policy import example_policy_path
from tests.policy.test_yamlguard import BILLION_LAUGHS, DEEP_LIST, DEEP_MAPPING, RECURSIVE


def test_get_policy(client: TestClient) -> None:
    body = client.get("/v1/policy").json()
    assert body["version"].startswith("biocenter@") and "apiVersion" in body["policy"]


def test_valid_policy_is_hot_reloaded(client: TestClient) -> None:
    text = example_policy_path().read_text().replace("gpu: {role: gpu_user}", "gpu: {role: gpu_wizard}")
    response = client.put("/v1/policy", content=text, headers={"content-type": "application/yaml"})
    assert response.status_code == 200
    assert response.json()["version"] != client.get("/health") and "gpu_wizard" in response.json()["policy"]
    denied = client.post("/v1/decisions", json={"user_id": "bob", "partition": "gpu", "gpus": 1}).json()
    assert denied["violations"][0]["limit"] == "gpu_wizard"


def test_invalid_policy_is_refused_and_the_old_one_keeps_serving(client: TestClient) -> None:
    before = client.get("/v1/policy").json()["version"]
    good = "max_gpus: 16, max_walltime_hours: 72"
    bad = example_policy_path().read_text().replace(good, "max_gpus: -16, max_walltime_hours: 72")
    response = client.put("/v1/policy", content=bad)
    assert response.status_code == 422
    problem = response.json()
    assert problem["title"] == "invalid policy"
    assert any(i["path"].endswith("limits.max_gpus") and i["line"] for i in problem["issues"])
    assert client.get("/v1/policy").json()["version"] == before
    assert client.post("/v1/decisions", json={"user_id": "alice", "partition": "cpu"}).json()["allow"]


@pytest.mark.parametrize(
    ("text", "words"),
    [(BILLION_LAUGHS, "more than 10,000 nodes"), (RECURSIVE, "recursive"), (DEEP_LIST, "deeper than 64"),
     (DEEP_MAPPING, "deeper than 64")],
    ids=["billion-laughs", "recursive-anchor", "deep-list", "deep-mapping"],
)  # fmt: skip
def test_hostile_yaml_is_refused_quickly_and_the_old_policy_keeps_serving(
    client: TestClient, text: str, words: str
) -> None:
    before = client.get("/v1/policy").json()["version"]
    started = time.perf_counter()
    response = client.put("/v1/policy", content=text, headers={"content-type": "application/yaml"})
    assert time.perf_counter() - started < 1.0
    assert response.status_code == 422 and response.json()["title"] == "invalid policy"
    [issue] = response.json()["issues"]
    assert issue["message"].startswith("YAML refused: ") and words in issue["message"] and issue["line"] >= 1
    assert client.get("/v1/policy").json()["version"] == before


def test_adjustment_grant(client: TestClient) -> None:
    body = {"scope": "user:newbie", "kind": "grant", "cpu_hours": 50, "reason": "paper deadline"}
    response = client.post("/v1/adjustments", json=body)
    assert response.status_code == 201 and response.json()["author"] == "dev"
    balances = client.get("/v1/usage", params={"scope": "user:newbie"}).json()["balances"]
    cpu = next(b for b in balances if b["metric"] == "cpu_hours")
    assert cpu["charged"] == -50 and cpu["available"] == 170


def test_adjustment_validation(client: TestClient) -> None:
    assert client.post("/v1/adjustments", json={"scope": "user:x", "kind": "gift", "reason": "r"}).status_code == 422
    assert client.post("/v1/adjustments", json={"scope": "user:x", "kind": "grant"}).status_code == 422
    missing = client.post("/v1/adjustments", json={"scope": "project:nope", "kind": "grant", "reason": "r"})
    assert missing.status_code == 404
