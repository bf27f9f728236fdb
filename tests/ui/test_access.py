"""Who sees what on the dashboard: admins everything; a user (a PI) their own scope and their projects."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from hpcpolicy.engine import Request
from hpcpolicy.service import Governance
from tests.ui.conftest import as_key, as_user


def scopes_listed(html: str) -> set[str]:
    return set(re.findall(r'<tbody class="quota" data-quota="[^"]*" data-scope="([^"]+)"', html))


def test_an_admin_sees_every_budget_and_every_page(client: TestClient, keys, gov: Governance) -> None:
    as_key(client, keys["admin"])
    metered = {scope for scope, refs in gov.ctx.policies.current.snapshot.scope_quotas.items()
               if any(ref.metered for ref in refs)}  # fmt: skip
    assert scopes_listed(client.get("/ui/").text) == metered and len(metered) == 10
    for path in ("/ui/scopes/project:wgs-cohort", "/ui/scopes/team:genomics", "/ui/scopes/org:biocenter",
                 "/ui/scopes/user:alice", "/ui/policy", "/ui/queue", "/ui/fairshare", "/ui/decisions"):  # fmt: skip
        assert client.get(path).status_code == 200, path


def test_a_gateway_key_sees_every_budget_but_not_the_policy(client: TestClient, keys) -> None:
    as_key(client, keys["gateway"])
    assert "project:wgs-cohort" in scopes_listed(client.get("/ui/").text)
    assert client.get("/ui/scopes/org:biocenter").status_code == 200
    page = client.get("/ui/policy")
    assert page.status_code == 403 and "is not an admin" in page.text and ">Policy<" not in page.text


def test_a_pi_sees_their_projects_and_their_own_budget_only(client: TestClient) -> None:
    as_user(client, "dan")  # protein-lm (PI) and imaging-ai
    listed = scopes_listed(client.get("/ui/").text)
    assert {"project:protein-lm", "project:imaging-ai"} <= listed
    assert all(s in {"project:protein-lm", "project:imaging-ai"} or s.startswith("user:dan") for s in listed)
    assert client.get("/ui/scopes/project:protein-lm").status_code == 200
    assert client.get("/ui/scopes/user:dan").status_code == 200


NOT_DANS = ["/ui/scopes/project:wgs-cohort", "/ui/scopes/user:alice", "/ui/scopes/team:ml-research",
            "/ui/scopes/org:biocenter", "/ui/scopes/project:no-such-project", "/ui/policy",
            "/ui/policy/revisions/1"]  # fmt: skip


@pytest.mark.parametrize("path", NOT_DANS)
def test_a_pi_cannot_open_another_projects_page(client: TestClient, path: str) -> None:
    as_user(client, "dan")
    page = client.get(path)
    assert page.status_code == 403 and "Not yours to see" in page.text
    assert "wgs-cohort</h1>" not in page.text


def test_group_membership_counts_like_the_api(client: TestClient) -> None:
    as_user(client, "zoe", groups=["imaging-lab"])
    assert "project:imaging-ai" in scopes_listed(client.get("/ui/").text)
    assert client.get("/ui/scopes/project:imaging-ai").status_code == 200
    assert client.get("/ui/scopes/project:protein-lm").status_code == 403


def test_decisions_of_other_projects_stay_hidden(client: TestClient, gov: Governance, clock) -> None:
    mine = gov.decide(Request(user_id="carol", partition="cpu", cpus=2), "user:carol").decision_id  # protein-lm
    clock.advance(minutes=1)
    theirs = gov.decide(Request(user_id="alice", partition="gpu", gpus=1), "user:alice").decision_id  # wgs-cohort
    as_user(client, "dan")
    listing = client.get("/ui/decisions").text
    assert mine in listing and theirs not in listing
    assert client.get(f"/ui/decisions/{mine}").status_code == 200
    page = client.get(f"/ui/decisions/{theirs}")
    assert page.status_code == 403 and "gpu.role_required" not in page.text
    assert theirs not in client.get("/ui/decisions?user=alice").text


def test_a_users_queue_and_fair_share_are_their_own(client: TestClient, gov: Governance) -> None:
    from hpcpolicy.service.holding import Hold

    for _ in range(3):  # carol may run two DGX jobs at once: the third waits
        gov.decide(Request(user_id="carol", partition="dgx-a100", gpus=8, walltime_hours=2), "user:carol",
                   hold=Hold())  # fmt: skip
    as_user(client, "alice")
    assert "carol" not in client.get("/ui/queue").text
    fair = client.get("/ui/fairshare").text
    assert "wgs-cohort" in fair and "protein-lm" not in fair
    as_user(client, "carol")
    assert client.get("/ui/queue").text.count("<td>carol</td>") == 1
