"""The server's alert loop and ``GET /v1/alerts``: a running app fires and delivers on its own; admins see
every alert, users those of their own scopes, hostile queries are 4xx problems."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from hpcpolicy.api import create_app
from hpcpolicy.auth import Authenticator
from tests.alerts.conftest import World
from tests.alerts.servers import Hook, Mailbox
from tests.api.identities import make_keys, secured_settings, user


def test_a_running_server_alerts_and_lists_alerts_by_who_asks(
    world_of: Callable[..., World], servers: tuple[int, Mailbox, Hook], tmp_path: Path
) -> None:
    _, box, hook = servers
    world = world_of()
    world.use(850)
    keys = make_keys(tmp_path / "keys.yaml")
    app = create_app(world.gov, Authenticator(secured_settings(tmp_path / "keys.yaml")))
    with TestClient(app, raise_server_exceptions=False) as api:
        deadline = time.monotonic() + 10
        while (len(box.mails), len(hook.posts)) != (1, 1) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (len(box.mails), len(hook.posts)) == (1, 1)  # the loop evaluated and delivered at start
        admin = api.get("/v1/alerts", headers=keys["admin"])
        assert admin.status_code == 200, admin.text
        [alert] = admin.json()["alerts"]
        assert alert["condition"] == "used:0.8" and alert["scope"] == "project:proj" and alert["rule"] == "budgets"
        assert alert["details"]["metrics"][0]["metric"] == "cpu_hours"
        deadline = time.monotonic() + 5
        while {d["state"] for d in alert["deliveries"]} != {"delivered"} and time.monotonic() < deadline:
            time.sleep(0.02)
            alert = api.get("/v1/alerts", headers=keys["admin"]).json()["alerts"][0]
        assert [(d["channel"], d["recipient"], d["state"]) for d in alert["deliveries"]] == [
            ("email", "pi@uni.example", "delivered"), ("webhook", "ops", "delivered")]  # fmt: skip

        member = api.get("/v1/alerts", headers=user("u"))
        assert [a["id"] for a in member.json()["alerts"]] == [alert["id"]]
        assert api.get("/v1/alerts?scope=project:proj", headers=user("u")).json()["alerts"][0]["id"] == alert["id"]
        assert api.get("/v1/alerts", headers=user("stranger")).json() == {"alerts": []}
        forbidden = api.get("/v1/alerts?scope=project:proj", headers=user("stranger"))
        assert forbidden.status_code == 403 and forbidden.headers["content-type"] == "application/problem+json"
        assert api.get("/v1/alerts", headers=keys["reporter"]).status_code == 403
        assert api.get("/v1/alerts").status_code == 401
        for query in ("scope=project:a%00b", "scope=" + "p" * 400, "limit=0", "limit=1e9", "limit=NaN"):
            bad = api.get(f"/v1/alerts?{query}", headers=keys["admin"])
            assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json", query
        assert api.get("/v1/alerts?scope=team:team", headers=keys["admin"]).json() == {"alerts": []}
    assert (len(box.mails), len(hook.posts)) == (1, 1)  # once, however often the loop ran
