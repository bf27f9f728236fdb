"""``GET /v1/fairshare``: the Fair Tree over HTTP; admins see every association, a user their own and
the accounts above them; no usage is a null level fair share (JSON has no infinity)."""

from __future__ import annotations

from hpcpolicy.service import Governance
from tests.api.identities import user
from tests.api.test_events_http import audited, decide, setup  # noqa: F401  (fixtures)


def test_admins_see_the_tree_and_users_their_part(setup, audited: Governance) -> None:  # noqa: F811
    client, keys = setup
    lien = decide(client, keys["gateway"], "alice", cpus=8)
    started = client.post(f"/v1/jobs/{lien}/start", headers=keys["scheduler"], json={})
    assert started.status_code == 200, started.text
    everything = client.get("/v1/fairshare", headers=keys["admin"]).json()
    scopes = [r["scope"] for r in everything["rows"]]
    assert scopes[0].startswith("org:") and "project:wgs-cohort/user:alice" in scopes and "team:ml-research" in scopes
    users = [r for r in everything["rows"] if r["factor"] is not None]
    assert max(r["factor"] for r in users) == 1.0 and all(0 < r["factor"] <= 1 for r in users)
    idle = next(r for r in everything["rows"] if r["scope"] == "team:ml-research")
    assert idle["raw_usage"] == 0 and idle["level_fs"] is None  # never used: infinitely under its share
    mine = client.get("/v1/fairshare", headers=user("alice")).json()["rows"]
    visible = {r["scope"] for r in mine}
    assert "project:wgs-cohort/user:alice" in visible and {"project:wgs-cohort", "team:genomics"} <= visible
    assert not any("user:bob" in s or s == "team:ml-research" for s in visible)
