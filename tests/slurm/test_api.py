"""``/v1/adapters/slurm/job_submit|job_modify`` over HTTP, with the bodies the plugin really sends.

NSS is replaced by the fake users of the cluster tests (dependency override), so roles come from the
policy's ``groups`` mapping of *their* Unix groups: bin is in group ``bin``, which grants ``gpu_user``.
The hook passes the groups; the engine maps them (to roles, and in v2 to project memberships).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hpcpolicy.adapters.slurm.admission import submit_key, token_of
from hpcpolicy.adapters.slurm.identity import CachedResolver
from hpcpolicy.api import create_app
from hpcpolicy.api.routes.slurm import unix_users
from hpcpolicy.auth import Authenticator, AuthSettings, create_key
from hpcpolicy.ledger.base import LedgerUnavailable
from hpcpolicy.ledger.memory import MemoryLedger
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from hpcpolicy.service.reconcile import lien_by_key
from tests.service.conftest import Clock
from tests.slurm.conftest import POLICY, fake_users
from tests.slurm.test_jobdesc import MODIFIED, SUBMITTED

SUBMIT, MODIFY = "/v1/adapters/slurm/job_submit", "/v1/adapters/slurm/job_modify"
GPU_JOB = SUBMITTED["-n 2 -c 3 -t 10 --mem=2000 --gres=gpu:a100:2 -p gpu -A chem --wrap sleep 2"]  # by daemon
NO_PARTITION = SUBMITTED["--wrap true --hold"]  # daemon, nothing asked


def dev_auth() -> AuthSettings:
    return AuthSettings(_env_file=None, keys_file=None, api_keys=None, jwt_secret=None, jwt_public_key=None)


@contextmanager
def client_for(gov: Governance, settings: AuthSettings | None = None) -> Iterator[TestClient]:
    app = create_app(gov, Authenticator(settings or dev_auth()))
    app.dependency_overrides[unix_users] = lambda: fake_users
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def client(gov: Governance) -> Iterator[TestClient]:
    with client_for(gov) as c:
        yield c


def job(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {"job": base | changes, "cluster": "testcluster"}


def test_a_job_without_partition_gets_the_route_the_project_and_a_token(client: TestClient, gov: Governance) -> None:
    reply = client.post(SUBMIT, json=job(NO_PARTITION)).json()
    assert reply["allow"] and (reply["partition"], reply["account"]) == ("cpu", "chem")
    token = token_of(reply["admin_comment"])
    assert token is not None
    with gov.ctx.ledger.session() as tx:
        lien = lien_by_key(tx, submit_key(token))
    assert lien is not None and lien.job_id is None
    assert (lien.user_id, lien.project, lien.partition) == ("daemon", "chem", "cpu")


def test_what_the_job_named_is_not_written_back(client: TestClient) -> None:
    reply = client.post(SUBMIT, json=job(GPU_JOB, user_id=2, user_name="bin", account="ml")).json()
    assert reply["allow"], reply  # bin's Unix group grants gpu_user
    assert (reply["partition"], reply["account"]) == (None, None)
    assert reply["admin_comment"].startswith("hpcpolicy:")


def test_a_list_of_partitions_is_narrowed_to_the_first_the_policy_admits(client: TestClient) -> None:
    reply = client.post(SUBMIT, json=job(NO_PARTITION, partition="dgx-a100,cpu")).json()  # daemon: no dgx_access
    assert reply["allow"] and reply["partition"] == "cpu"
    refused = client.post(SUBMIT, json=job(GPU_JOB, partition="dgx-a100,gpu")).json()  # and no gpu_user
    assert not refused["allow"] and "partition dgx-a100 requires role dgx_access" in refused["messages"][1]


def test_an_existing_admin_comment_is_kept(client: TestClient) -> None:
    reply = client.post(SUBMIT, json=job(NO_PARTITION, admin_comment="ticket 42 hpcpolicy:stale")).json()
    assert reply["admin_comment"].startswith("ticket 42 hpcpolicy:") and "stale" not in reply["admin_comment"]


def test_a_denial_lists_every_rule_and_names_an_eslurm_code(client: TestClient) -> None:
    reply = client.post(SUBMIT, json=job(GPU_JOB)).json()  # daemon: no GPU role
    assert (reply["allow"], reply["error"], reply["admin_comment"]) == (False, "ESLURM_ACCESS_DENIED", None)
    assert reply["messages"][0].startswith("hpcpolicy: job rejected by policy slurm-test@")
    assert reply["messages"][1] == (
        "  gpu.role_required: GPU jobs require role gpu_user [user:daemon; limit gpu_user, requested 2, available n/a]"
    )


def test_roles_written_into_the_job_are_ignored(client: TestClient) -> None:
    body = job(GPU_JOB, user_id=2, account="ml", partition="dgx-a100", roles=["dgx_access"], group_id=0)
    reply = client.post(SUBMIT, json=body).json()
    assert not reply["allow"] and "partition.role_required" in reply["messages"][1]


def test_a_uid_unknown_to_the_service_host_is_refused_with_the_reason(client: TestClient) -> None:
    reply = client.post(SUBMIT, json=job(NO_PARTITION, user_id=4242, user_name=None)).json()
    assert (reply["allow"], reply["error"], reply["decision_id"]) == (False, "ESLURM_ACCESS_DENIED", None)
    assert reply["messages"] == ["hpcpolicy: job rejected: uid 4242 is unknown on the policy service host"]


def modify_body(scontrol: str, **job_changes: Any) -> dict[str, Any]:
    entry = next(e for e in MODIFIED if e["scontrol"] == [scontrol])
    return entry["body"] | {"job": entry["body"]["job"] | job_changes}  # type: ignore[no-any-return]


def test_an_update_asking_for_less_needs_no_decision(client: TestClient) -> None:
    reply = client.post(MODIFY, json=modify_body("NumNodes=1")).json()
    assert (reply["allow"], reply["decision_id"], reply["admin_comment"], reply["messages"]) == (True, None, None, [])


def test_an_update_asking_for_more_is_decided_on_the_jobs_owner(client: TestClient, gov: Governance) -> None:
    # job 2 (2 GPUs) moved to the gpu partition with 1 h left, then asking for 2 tasks instead of 1
    on_gpu = {"partition": "gpu", "time_limit": 60}
    refused = client.post(MODIFY, json=modify_body("NumTasks=2", **on_gpu)).json()  # daemon: no GPU role
    assert not refused["allow"] and refused["error"] == "ESLURM_ACCESS_DENIED"
    assert "gpu.role_required" in refused["messages"][1]
    # the same update of a job of bin (gpu_user through its group) is admitted, with a new token
    allowed = client.post(MODIFY, json=modify_body("NumTasks=2", user_id=2, account="ml", **on_gpu)).json()
    assert allowed["allow"] and allowed["decision_id"], allowed
    token = token_of(allowed["admin_comment"])
    with gov.ctx.ledger.session() as tx:
        lien = lien_by_key(tx, submit_key(token or ""))
    assert lien is not None and (lien.job_id, lien.cpus, lien.gpus, lien.walltime_hours) == ("2", 2, 2, 1.0)


def test_only_a_caller_that_may_speak_for_users_is_served(gov: Governance, tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    controller, _ = create_key(path, "slurmctld", ["decide", "report"], may_assert_identity=True)
    deciding_only, _ = create_key(path, "gateway", ["decide"], may_assert_identity=True)
    reporter, _ = create_key(path, "reporter", ["decide"])
    settings = AuthSettings(_env_file=None, keys_file=path, api_keys=None, jwt_secret=None, jwt_public_key=None)
    with client_for(gov, settings) as client:
        assert client.post(SUBMIT, json=job(NO_PARTITION)).status_code == 401
        assert client.post(SUBMIT, json=job(NO_PARTITION), headers={"X-API-Key": reporter}).status_code == 403
        assert client.post(MODIFY, json=modify_body("NumNodes=1"), headers={"X-API-Key": reporter}).status_code == 403
        ok = client.post(SUBMIT, json=job(NO_PARTITION), headers={"X-API-Key": controller})
        assert ok.status_code == 200 and ok.json()["allow"]
        # binding job ids to liens is a usage fact: the controller's key needs the report scope
        no_report = client.post(MODIFY, json=modify_body("NumNodes=1"), headers={"X-API-Key": deciding_only})
        assert no_report.status_code == 403 and "report" in no_report.json()["detail"]
        assert client.post(MODIFY, json=modify_body("NumNodes=1"), headers={"X-API-Key": controller}).status_code == 200


class DownLedger:
    def session(self) -> Any:
        raise LedgerUnavailable("database unreachable: connection refused")

    def reading(self) -> Any:
        raise LedgerUnavailable("database unreachable: connection refused")

    def ping(self) -> None:
        raise LedgerUnavailable("database unreachable: connection refused")


def test_no_ledger_means_no_decision_and_the_plugin_applies_its_failure_mode(gov: Governance) -> None:
    down = Governance(Context(DownLedger(), gov.ctx.policies, clock=gov.ctx.clock))  # type: ignore[arg-type]
    with client_for(down) as client:
        response = client.post(SUBMIT, json=job(NO_PARTITION))
    assert response.status_code == 503 and "ledger" in response.json()["detail"]


def test_bodies_are_validated(client: TestClient) -> None:
    assert client.post(SUBMIT, json={"job": NO_PARTITION, "roles": ["admin"]}).status_code == 422
    assert client.post(MODIFY, json={"job": NO_PARTITION}).status_code == 422




@pytest.mark.parametrize("array_inx", ["a-b", "0-9:0", "9-0", "0-99999999", "1:", "²", "1" * 5000])
def test_a_bad_array_spec_is_a_refusal_not_a_server_error(client: TestClient, array_inx: str) -> None:
    reply = client.post(SUBMIT, json=job(NO_PARTITION, array_inx=array_inx))
    assert reply.status_code == 200 and reply.json()["allow"] is False, reply.text
    assert "array spec" in reply.json()["messages"][0]
    # a job record's spec is read when it has no TRES totals; an update cannot change it
    record = modify_body("NumTasks=2", array_inx=array_inx, tres_fmt_req_str=None)
    assert client.post(MODIFY, json=record).json()["allow"] is False
    changes = modify_body("NumTasks=2") | {"changes": {"array_inx": array_inx}}
    assert client.post(MODIFY, json=changes).status_code == 200


@pytest.mark.parametrize(
    ("forged", "refused"),
    [
        ({"partition": "p" * 500}, True),  # not an identifier the ledger can hold
        ({"partition": "cpu\u0000"}, True),
        ({"min_nodes": 1e9}, True),  # beyond any machine
        ({"time_limit": 4e9 - 3}, True),  # just under NO_VAL: 7,600 years
        ({"num_tasks": 4e9}, True),  # four billion tasks
        ({"num_tasks": 2.0**32 - 2}, False),  # NO_VAL: Slurm's "unset"
        ({"user_id": 2.0**40}, False),  # above NO_VAL: unset, the user name decides
        ({"user_id": None, "user_name": "a\u0000b"}, True),  # no such user
    ],
)
def test_forged_job_descriptions_are_answered_not_crashed_on(
    client: TestClient, forged: dict[str, Any], refused: bool
) -> None:
    forged = {k: v.encode().decode("unicode_escape") if isinstance(v, str) else v for k, v in forged.items()}
    reply = client.post(SUBMIT, json=job(NO_PARTITION, **forged))
    assert reply.status_code == 200, reply.text
    assert reply.json()["allow"] is not refused, reply.json()
    update = client.post(MODIFY, json=modify_body("NumTasks=2", **forged))
    assert update.status_code == 200, update.text


def test_a_nan_in_a_job_description_is_422(client: TestClient) -> None:
    nan = '{"job": {"user_id": 1000, "num_tasks": NaN}}'
    assert client.post(SUBMIT, content=nan, headers={"content-type": "application/json"}).status_code == 422


# -- Unix groups: passed to the engine, which derives roles and (v2) project memberships ---------------


def test_the_unix_groups_go_into_the_request_and_the_engine_maps_them(client: TestClient, gov: Governance) -> None:
    reply = client.post(SUBMIT, json=job(GPU_JOB, user_id=2, user_name="bin", account="ml")).json()
    assert reply["allow"], reply  # gpu_user from group bin, as before
    request = gov.get_decision(reply["decision_id"]).request
    assert (request["roles"], request["groups"]) == ([], ["bin"])  # group daemon etc. are not the policy's


@pytest.fixture
def v2_gov(tmp_path: Path, clock: Clock) -> Governance:
    """The cluster tests' policy in v2, where Unix group sys also makes its members members of project ml."""
    text = POLICY.read_text().replace("apiVersion: hpcpolicy/v1", "apiVersion: hpcpolicy/v2")
    text = text.replace("groups:\n", "groups:\n  sys: {projects: [ml], default_project: ml}\n")
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return Governance(Context(MemoryLedger(), PolicyStore.from_file(path, env={}), clock=clock))


def test_a_unix_group_grants_project_membership_and_the_default_account(v2_gov: Governance) -> None:
    with client_for(v2_gov) as client:
        sys_job = client.post(SUBMIT, json=job(NO_PARTITION, user_id=3, user_name="sys")).json()
        assert sys_job["allow"] and sys_job["account"] == "ml"  # sys lists only tiny; its group names ml first
        named = client.post(SUBMIT, json=job(NO_PARTITION, user_id=3, user_name="sys", account="tiny")).json()
        assert named["allow"] and named["account"] is None
        daemon = client.post(SUBMIT, json=job(NO_PARTITION, account="ml")).json()  # daemon is not in group sys
        assert not daemon["allow"] and "project.not_member" in daemon["messages"][1]


def test_the_route_resolves_through_the_apps_cached_resolver(gov: Governance) -> None:
    """Without an override the route asks ``create_app``'s resolver: one NSS lookup per minute per uid."""
    asked: list[int | None] = []

    def nss(uid: int | None, name: str | None) -> Any:
        asked.append(uid)
        return fake_users(uid, name)

    clock = [0.0]
    app = create_app(gov, Authenticator(dev_auth()), unix_users=CachedResolver(nss, 60, clock=lambda: clock[0]))
    with TestClient(app, raise_server_exceptions=False) as client:
        for _ in range(3):
            assert client.post(SUBMIT, json=job(NO_PARTITION)).json()["allow"]
        clock[0] = 61.0
        assert client.post(SUBMIT, json=job(NO_PARTITION)).json()["allow"]
    assert asked == [NO_PARTITION["user_id"]] * 2
