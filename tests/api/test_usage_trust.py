"""Nobody sets their own bill: usage facts come from the scheduler side, and only within the lien.

Each test plays a hostile caller from issue 9 against every backend, and checks the ledger afterwards:
a refused request leaves every row as it was, and the scheduler's true report still lands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hpcpolicy.service import Governance
from tests.api.conftest import AppFactory, ledger_rows
from tests.api.identities import make_keys, secured_settings, user
from tests.service.conftest import Clock

JOB = {"partition": "cpu", "cpus": 4, "walltime_hours": 10, "reserve": True}  # alice: wgs-cohort


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, dict[str, str]]:
    return make_keys(tmp_path / "keys.yaml")


@pytest.fixture
def api(make_db_client: AppFactory, keys: dict[str, dict[str, str]], tmp_path: Path) -> TestClient:
    return make_db_client(secured_settings(tmp_path / "keys.yaml"))


def admit(api: TestClient, headers: dict[str, str], **fields: Any) -> str:
    response = api.post("/v1/decisions", json=JOB | fields, headers=headers)
    assert response.status_code == 200 and response.json()["allow"], response.text
    return str(response.json()["lien_id"])


def refused(api: TestClient, gov: Governance, status: int, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    """Call, expect ``status`` as problem details, and prove the ledger did not move."""
    before = ledger_rows(gov)
    response = api.request(method, url, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert ledger_rows(gov) == before
    body: dict[str, Any] = response.json()
    return body


def test_a_jobs_own_user_reports_no_usage(
    api: TestClient, db_gov: Governance, keys: dict[str, dict[str, str]], clock: Clock
) -> None:
    alice = user("alice")
    lien = admit(api, alice)
    clock.advance(hours=3)
    for what in ({"elapsed_seconds": 1}, {"elapsed_seconds": 1e308}, {"elapsed_hours": 0.0001}):
        body = refused(api, db_gov, 403, "POST", f"/v1/jobs/{lien}/finish", json=what, headers=alice)
        assert "scheduler side" in body["detail"]
    refused(api, db_gov, 403, "POST", f"/v1/jobs/{lien}/start", json={"job_id": "1"}, headers=alice)
    refused(api, db_gov, 403, "POST", f"/v1/jobs/{lien}/cancel", json={"elapsed_hours": 0.1}, headers=alice)
    refused(api, db_gov, 403, "POST", f"/v1/jobs/{lien}/cancel", json={"outcome": "failed"}, headers=alice)
    refused(api, db_gov, 403, "POST", f"/v1/jobs/{lien}/cancel", json={"ended_at": "2001-01-01T00:00:00Z"},
            headers=alice)  # fmt: skip
    # the scheduler's true report is not blocked by anything the user tried
    finished = api.post(f"/v1/jobs/{lien}/finish", json={"elapsed_hours": 2.5}, headers=keys["scheduler"])
    assert finished.status_code == 200 and finished.json()["charged"]["cpu_hours"] == 10


def test_a_user_may_withdraw_an_unstarted_job_but_not_end_a_running_one(
    api: TestClient, db_gov: Governance, keys: dict[str, dict[str, str]], clock: Clock
) -> None:
    alice = user("alice")
    waiting = admit(api, alice)
    assert api.post(f"/v1/jobs/{waiting}/cancel", headers=alice).json()["state"] == "cancelled"
    running = admit(api, alice)
    assert api.post(f"/v1/jobs/{running}/start", headers=keys["reporter"]).status_code == 200
    clock.advance(hours=1)
    body = refused(api, db_gov, 403, "POST", f"/v1/jobs/{running}/cancel", headers=alice)
    assert "running" in body["detail"]
    refused(api, db_gov, 403, "POST", f"/v1/jobs/{running}/cancel", headers=user("bob"))


def test_a_gateway_speaks_for_users_but_reports_nothing(
    api: TestClient, db_gov: Governance, keys: dict[str, dict[str, str]], clock: Clock
) -> None:
    lien = admit(api, keys["gateway"], user_id="alice")
    clock.advance(hours=1)
    for url, body in ((f"/v1/jobs/{lien}/start", {}), (f"/v1/jobs/{lien}/finish", {"elapsed_hours": 1})):
        problem = refused(api, db_gov, 403, "POST", url, json=body, headers=keys["gateway"])
        assert "report" in problem["detail"]
    assert api.get(f"/v1/jobs/{lien}", headers=keys["reporter"]).status_code == 200  # reporters read jobs


@pytest.mark.parametrize(
    ("report", "field"),
    [
        ({"elapsed_hours": 10.5}, "elapsed"),  # past walltime (10 h) + 15 min grace
        ({"elapsed_seconds": 1e308}, "elapsed_seconds"),
        ({"elapsed_hours": 2, "cpus": 5}, "cpus"),  # admitted with 4
        ({"elapsed_hours": 2, "gpus": 1}, "gpus"),
        ({"elapsed_hours": 2, "memory_gb": 1}, "memory_gb"),  # admitted with 0
        ({"elapsed_hours": 2, "ended_at": "2001-06-01T00:00:00Z"}, "ended_at"),
        ({"elapsed_hours": 2, "ended_at": "2999-06-01T00:00:00Z"}, "ended_at"),
        ({"elapsed_hours": 2, "ended_at": "2026-11-15T11:00:00Z"}, "ended_at"),  # before admission (12:00)
        ({"elapsed_hours": 2, "ended_at": "2026-11-16T12:00:00Z"}, "ended_at"),  # tomorrow
        ({"elapsed_hours": 4}, "elapsed"),  # admitted 3 h ago: cannot have run 4 h
    ],
)
def test_a_report_outside_the_lien_is_refused_naming_the_field(
    api: TestClient,
    db_gov: Governance,
    keys: dict[str, dict[str, str]],
    clock: Clock,
    report: dict[str, Any],
    field: str,
) -> None:
    lien = admit(api, user("alice"))
    clock.advance(hours=3)
    problem = refused(api, db_gov, 422, "POST", f"/v1/jobs/{lien}/finish", json=report, headers=keys["scheduler"])
    assert field in {error["path"] for error in problem["errors"]}, problem
    # an admin is bound by the same rule: more than the lien is an adjustment, with a reason
    refused(api, db_gov, 422, "POST", f"/v1/jobs/{lien}/finish", json=report, headers=keys["admin"])
    ok = api.post(f"/v1/jobs/{lien}/finish", json={"elapsed_hours": 3}, headers=keys["scheduler"])
    assert ok.status_code == 200 and ok.json()["charged"]["cpu_hours"] == 12


def test_a_start_time_outside_the_lien_is_refused(
    api: TestClient, db_gov: Governance, keys: dict[str, dict[str, str]]
) -> None:
    lien = admit(api, user("alice"))
    for when in ("2001-01-01T00:00:00Z", "2999-01-01T00:00:00Z", "0001-01-01T00:00:00Z"):
        refused(api, db_gov, 422, "POST", f"/v1/jobs/{lien}/start", json={"started_at": when},
                headers=keys["scheduler"])  # fmt: skip


def test_scheduler_job_ids_come_from_the_scheduler_and_bind_once_per_cluster(
    api: TestClient, db_gov: Governance, keys: dict[str, dict[str, str]]
) -> None:
    alice, scheduler = user("alice"), keys["scheduler"]
    # a user cannot attach a job id first and so take over what the scheduler later reports for it
    refused(api, db_gov, 403, "POST", "/v1/decisions", json=JOB | {"job_id": "1234"}, headers=alice)
    first, second = admit(api, alice), admit(api, alice)
    assert api.post(f"/v1/jobs/{first}/start", json={"job_id": "1234"}, headers=scheduler).status_code == 200
    problem = refused(api, db_gov, 409, "POST", f"/v1/jobs/{second}/start", json={"job_id": "1234"}, headers=scheduler)
    assert "1234" in problem["detail"]
    refused(api, db_gov, 409, "POST", "/v1/decisions", json=JOB | {"job_id": "1234", "user_id": "alice"},
            headers=scheduler)  # fmt: skip
    assert api.get("/v1/jobs/1234", headers=alice).json()["lien_id"] == first


def test_the_same_job_id_on_two_clusters_is_two_jobs(
    api: TestClient, db_gov: Governance, keys: dict[str, dict[str, str]]
) -> None:
    scheduler = keys["scheduler"]
    helix = admit(api, scheduler, user_id="alice", job_id="77")
    kube = admit(api, scheduler, user_id="carol", job_id="77", partition="inference-l4", gpus=1, cpus=1,
                 walltime_hours=1, roles=["gpu_user"])  # fmt: skip
    assert helix != kube
    problem = refused(api, db_gov, 409, "GET", "/v1/jobs/77", headers=scheduler)
    assert "helix" in problem["detail"] and "kube-ai" in problem["detail"]
    assert api.get("/v1/jobs/77", params={"cluster": "kube-ai"}, headers=scheduler).json()["lien_id"] == kube
    finished = api.post("/v1/jobs/77/finish", params={"cluster": "helix"}, json={"elapsed_hours": 0},
                        headers=scheduler)  # fmt: skip
    assert finished.status_code == 200 and finished.json()["lien_id"] == helix
    assert api.get("/v1/jobs/77", headers=scheduler).status_code == 409  # both still hold the id


def test_declared_hours_never_lower_the_estimate(api: TestClient, keys: dict[str, dict[str, str]]) -> None:
    # newbie's default quota: 120 CPU-hours a month; 64 CPUs x 100 h is 6,400 whatever it declares
    body = {"user_id": "newbie", "partition": "cpu", "cpus": 64, "walltime_hours": 100, "cpu_hours": 1}
    decision = api.post("/v1/decisions", json=body, headers=keys["gateway"]).json()
    assert not decision["allow"] and decision["estimate"]["cpu_hours"] == 6400
    assert [v["code"] for v in decision["violations"]] == ["quota.cpu_hours_exceeded"]
