"""POST /v1/decisions, GET /v1/decisions/{id}, the job lifecycle and balances over HTTP."""

from __future__ import annotations

from fastapi.testclient import TestClient

JOB = {"user_id": "newbie", "partition": "cpu", "cpus": 4, "walltime_hours": 10}


def cpu_available(client: TestClient, scope: str = "user:newbie") -> float:
    balances = client.get("/v1/usage", params={"scope": scope}).json()["balances"]
    return next(b["available"] for b in balances if b["metric"] == "cpu_hours")


def test_decision_fields_and_record(client: TestClient) -> None:
    response = client.post("/v1/decisions", json=JOB | {"reserve": True})
    assert response.status_code == 200
    body = response.json()
    assert body["allow"] is True and body["lien_id"] == body["decision_id"]
    assert body["route"] == {"cluster": "helix", "partition": "cpu", "reason": "named"}
    assert body["estimate"]["cpu_hours"] == 40
    assert body["remaining"]["user:newbie"]["cpu_hours"] == 80
    assert set(body) >= {"violations", "policy_version", "account_path", "rejected_routes", "recorded"}
    record = client.get(f"/v1/decisions/{body['decision_id']}").json()
    assert record["request"]["user_id"] == "newbie" and record["caller"] == "dev" and record["lien_id"]


def test_a_routed_decision_says_why_and_names_its_qos(client: TestClient) -> None:
    body = client.post("/v1/decisions", json={"user_id": "alice", "cpus": 4, "memory_gb": 300, "qos": "normal"}).json()
    assert body["allow"] is True  # the example policy defines no QOS: the scheduler's own is left alone
    assert body["route"]["partition"] == "highmem" and body["route"]["reason"].startswith("cheapest of 2 candidates")
    record = client.get(f"/v1/decisions/{body['decision_id']}").json()
    assert record["request"]["qos"] == "normal" and record["decision"]["route"] == body["route"]


def test_reserve_start_finish_cycle_changes_balance_by_actual_usage(client: TestClient, clock) -> None:
    decision = client.post("/v1/decisions", json=JOB | {"reserve": True}).json()
    assert cpu_available(client) == 80
    started = client.post(f"/v1/jobs/{decision['decision_id']}/start", json={"job_id": "4242"})
    assert started.status_code == 200 and started.json()["state"] == "running"
    clock.advance(hours=3)
    finished = client.post("/v1/jobs/4242/finish", json={"elapsed_seconds": 9000})
    assert finished.status_code == 200
    assert finished.json()["charged"]["cpu_hours"] == 10  # 4 CPUs x 2.5 h
    assert cpu_available(client) == 110
    again = client.post("/v1/jobs/4242/finish", json={"elapsed_seconds": 9000})
    assert again.status_code == 200 and again.json() == finished.json()
    conflict = client.post("/v1/jobs/4242/finish", json={"elapsed_seconds": 1})
    assert conflict.status_code == 409 and conflict.json()["title"] == "conflict"


def test_cancel_releases(client: TestClient, clock) -> None:
    decision = client.post("/v1/decisions", json=JOB | {"reserve": True}).json()
    assert client.post(f"/v1/jobs/{decision['decision_id']}/cancel").json()["state"] == "cancelled"
    assert cpu_available(client) == 120
    failed = client.post("/v1/decisions", json=JOB | {"reserve": True}).json()
    clock.advance(hours=1)
    body = client.post(f"/v1/jobs/{failed['decision_id']}/cancel", json={"outcome": "failed", "elapsed_hours": 1})
    assert body.json()["state"] == "failed" and body.json()["charged"]["cpu_hours"] == 4


def test_idempotency_key_header(client: TestClient) -> None:
    first = client.post("/v1/decisions", json=JOB | {"reserve": True}, headers={"Idempotency-Key": "x1"}).json()
    again = client.post("/v1/decisions", json=JOB | {"reserve": True}, headers={"Idempotency-Key": "x1"}).json()
    assert again["replayed"] is True and again["decision_id"] == first["decision_id"]
    assert cpu_available(client) == 80
    other = client.post("/v1/decisions", json=JOB | {"cpus": 1, "reserve": True}, headers={"Idempotency-Key": "x1"})
    assert other.status_code == 409


def test_an_idempotency_key_header_is_an_identifier_as_in_the_body(client: TestClient) -> None:
    for bad in ("", " ", "k" * 192):  # an empty key would be one key shared by every caller that sends it
        refused = client.post("/v1/decisions", json=JOB | {"reserve": True}, headers={"Idempotency-Key": bad})
        assert refused.status_code == 422, bad
        assert {e["path"] for e in refused.json()["errors"]} == {"header.idempotency-key"}, refused.json()
    assert cpu_available(client) == 120  # nothing reserved


def test_dry_run_writes_nothing(client: TestClient) -> None:
    body = client.post("/v1/decisions", json=JOB | {"reserve": True, "dry_run": True}).json()
    assert body["allow"] and body["lien_id"] is None and body["recorded"] is False
    assert client.get(f"/v1/decisions/{body['decision_id']}").status_code == 404
    assert cpu_available(client) == 120


def test_over_budget_reservation_is_denied_with_numbers(client: TestClient) -> None:
    for _ in range(3):
        assert client.post("/v1/decisions", json=JOB | {"reserve": True}).json()["allow"]
    denied = client.post("/v1/decisions", json=JOB | {"reserve": True}).json()
    assert denied["allow"] is False and denied["lien_id"] is None
    violation = denied["violations"][0]
    assert violation["code"] == "quota.cpu_hours_exceeded"
    assert (violation["limit"], violation["requested"], violation["available"]) == (120, 40, 0)


def test_validation_errors_name_the_field(client: TestClient) -> None:
    response = client.post("/v1/decisions", json=JOB | {"gpus": -2, "gpu": 1})
    assert response.status_code == 422
    paths = {e["path"] for e in response.json()["errors"]}
    assert paths == {"gpus", "gpu"}
    not_json = client.post("/v1/decisions", content=b"{", headers={"content-type": "application/json"})
    assert not_json.status_code == 422


def test_unknown_ids_are_404_problems(client: TestClient) -> None:
    for response in (client.get("/v1/decisions/nope"), client.post("/v1/jobs/nope/start"), client.get("/v1/jobs/x")):
        assert response.status_code == 404
        assert response.json()["status"] == 404 and response.json()["detail"]


def test_finish_needs_elapsed_time(client: TestClient) -> None:
    decision = client.post("/v1/decisions", json=JOB | {"reserve": True}).json()
    response = client.post(f"/v1/jobs/{decision['decision_id']}/finish", json={})
    assert response.status_code == 422 and "elapsed" in response.json()["detail"]


def test_usage_of_unknown_scope(client: TestClient) -> None:
    assert client.get("/v1/usage", params={"scope": "team:nope"}).status_code == 404
    assert client.get("/v1/usage", params={"scope": "planet:x"}).status_code == 422


def test_request_id_is_echoed(client: TestClient) -> None:
    assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    assert len(client.get("/health").headers["x-request-id"]) == 32


def test_openapi_docs(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/decisions", "/v1/jobs/{ref}/finish", "/v1/usage", "/v1/policy", "/quota/check"} <= set(paths)


def test_metrics(client: TestClient) -> None:
    client.post("/v1/decisions", json=JOB | {"reserve": True})
    client.post("/v1/decisions", json={"user_id": "alice", "partition": "gpu", "gpus": 1})
    text = client.get("/metrics").text
    assert 'hpcpolicy_decisions_total{outcome="allow",reserved="true"} 1.0' in text
    assert 'hpcpolicy_violations_total{code="gpu.role_required"} 1.0' in text
    assert "hpcpolicy_decision_seconds_bucket" in text
    assert "hpcpolicy_reservations_open 1.0" in text
    assert 'hpcpolicy_quota_utilization{metric="cpu_hours",quota="project:wgs-cohort"}' in text


def test_usage_carries_each_budgets_burn_rate_and_run_dry_day(client: TestClient, clock) -> None:
    for _ in range(3):  # 40 CPU-hours a day for three days, of newbie's 120 a month
        decision = client.post("/v1/decisions", json=JOB | {"reserve": True}).json()
        client.post(f"/v1/jobs/{decision['decision_id']}/start", json={"job_id": decision["decision_id"][:8]})
        clock.advance(hours=10)
        client.post(f"/v1/jobs/{decision['decision_id'][:8]}/finish", json={"elapsed_hours": 10})
        clock.advance(hours=14)
    balances = client.get("/v1/usage", params={"scope": "user:newbie"}).json()["balances"]
    cpu = next(b for b in balances if b["metric"] == "cpu_hours")
    gpu = next(b for b in balances if b["metric"] == "gpu_hours")
    jobs = next(b for b in balances if b["metric"] == "jobs")
    assert cpu["available"] == 0 and cpu["forecast"]["days_to_dry"] == 0 and cpu["forecast"]["dry_before_end"]
    assert gpu["forecast"] == {"rate_per_day": 0, "days_to_dry": None, "runs_dry_at": None,
                               "balance_at_end": 24, "dry_before_end": False}  # fmt: skip
    assert jobs["forecast"] is None  # a count now has no burn rate
    assert cpu["forecast"]["rate_per_day"] > 0
