"""The original service's endpoints answer exactly as it did."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_health(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_quota_check_new_user_default_quota(client: TestClient) -> None:
    body = {"user_id": "newuser", "cpu_hours": 12, "gpu_hours": 2, "gpus": 1, "roles": ["gpu_user"]}
    response = client.post("/quota/check", json=body)
    assert response.status_code == 200
    # 1 GPU for the gpu partition's default 4 h holds 4 GPU-hours: declaring 2 does not lower that
    assert response.json() == {"allow": True, "reason": "ok", "remaining_cpu_hours": 108.0, "remaining_gpu_hours": 20.0}
    body |= {"gpu_hours": 6}  # declaring more raises it
    assert client.post("/quota/check", json=body).json()["remaining_gpu_hours"] == 18.0


def test_quota_check_is_side_effect_free(client: TestClient) -> None:
    body = {"user_id": "newuser", "cpu_hours": 100, "gpu_hours": 0, "gpus": 0}
    for _ in range(3):
        assert client.post("/quota/check", json=body).json()["remaining_cpu_hours"] == 20.0


def test_quota_check_over_quota(client: TestClient) -> None:
    body = {"user_id": "newuser", "cpu_hours": 500, "gpu_hours": 0, "gpus": 0}
    answer = client.post("/quota/check", json=body).json()
    assert answer["allow"] is False
    assert answer["reason"] == "CPU-hours 500 exceeds the monthly balance of 120 (limit 120): over by 380"
    assert answer["remaining_cpu_hours"] == 0.0 and answer["remaining_gpu_hours"] == 24.0


def test_quota_check_gpu_without_role(client: TestClient) -> None:
    answer = client.post("/quota/check", json={"user_id": "newuser", "cpu_hours": 1, "gpu_hours": 1, "gpus": 1}).json()
    assert answer["allow"] is False and "gpu_user" in answer["reason"]


def test_jobs_evaluate(client: TestClient) -> None:
    ok = client.post("/jobs/evaluate", json={"user_id": "carol", "partition": "dgx-a100", "gpus": 8, "memory_gb": 256})
    assert ok.json() == {"allow": True, "reason": "ok", "partition": "dgx-a100"}
    denied = client.post("/jobs/evaluate", json={"user_id": "bob", "partition": "dgx-a100", "gpus": 8, "memory_gb": 64})
    assert denied.json()["allow"] is False and "dgx_access" in denied.json()["reason"]
    gpu = client.post("/jobs/evaluate", json={"user_id": "alice", "partition": "gpu", "gpus": 1, "memory_gb": 16})
    assert gpu.json() == {"allow": False, "reason": "GPU jobs require role gpu_user", "partition": "gpu"}


def test_compat_bad_input_is_422_with_field(client: TestClient) -> None:
    response = client.post("/quota/check", json={"user_id": "u", "cpu_hours": -1})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["path"] == "cpu_hours"
