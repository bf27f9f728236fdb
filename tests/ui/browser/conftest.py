"""A live ``hpcpolicy serve`` (a subprocess on a free port, a temporary SQLite ledger, this folder's policy,
API keys and JWT users) and Debian's Chromium driven by Playwright, with every request that does not go
to that server blocked and counted.

Chromium missing is a failure under CI (``CI`` set, as .ci/run sets it) and a skip elsewhere.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Response, Route, sync_playwright

from hpcpolicy.auth import create_key
from tests.api.identities import AUDIENCE, ISSUER, SECRET
from tests.replicas.servers import clean_env, free_port, wait_ready

CHROMIUM = Path(os.environ.get("HPCPOLICY_TEST_CHROMIUM", "/usr/bin/chromium"))
POLICY = Path(__file__).with_name("policy.yaml")


@dataclass
class Server:
    url: str
    admin_key: str
    gateway_key: str

    def api(self, method: str, path: str, key: str | None = None, **kwargs: object) -> httpx.Response:
        headers = {"X-API-Key": key or self.admin_key}
        return httpx.request(method, self.url + path, headers=headers, timeout=10, **kwargs)  # type: ignore[arg-type]

    def reserve(self, user: str, cpus: int, hours: float) -> str:
        """A job admitted with a lien (the usage a budget counts from admission on); its decision id."""
        body = {"user_id": user, "partition": "cpu", "cpus": cpus, "walltime_hours": hours, "reserve": True}
        response = self.api("POST", "/v1/decisions", self.gateway_key, json=body)
        assert response.status_code == 200 and response.json()["allow"], response.text
        return str(response.json()["decision_id"])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("dashboard")
    admin, _ = create_key(data / "keys.yaml", "browser-admin", ["admin"])
    gateway, _ = create_key(data / "keys.yaml", "browser-gateway", ["decide", "report"], may_assert_identity=True)
    port = free_port()
    # Budgets read afresh for every overview (served: a reading up to 30 s old), so a test sees its own usage.
    env = clean_env(HPCPOLICY_JWT_SECRET=SECRET, HPCPOLICY_JWT_ISSUER=ISSUER, HPCPOLICY_JWT_AUDIENCE=AUDIENCE,
                    HPCPOLICY_STANDINGS_MAX_AGE_SECONDS="0")  # fmt: skip
    command = [sys.executable, "-m", "hpcpolicy.cli.main", "serve", "--port", str(port), "--data-dir", str(data),
               "--database-url", f"sqlite:///{data / 'ledger.db'}", "--policy", str(POLICY)]  # fmt: skip
    log_path = data / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, cwd=data, env=env, stdout=log, stderr=log)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(proc, url, log_path)
            yield Server(url, admin, gateway)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: the dashboard's browser tests must run in CI (apt install chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM))
        yield browser
        browser.close()


@dataclass
class Tab:
    """A browser tab of its own (own cookies) that may reach only the server; ``blocked`` lists what else
    it tried to fetch."""

    page: Page
    base: str
    blocked: list[str] = field(default_factory=list)

    def open(self, path: str) -> Response | None:
        return self.page.goto(self.base + path)

    def sign_in(self, credential: str) -> None:
        self.open("/ui/login")
        self.page.fill("#credential", credential)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(re.compile(re.escape(self.base) + r"/ui/(\?.*)?$"))


@pytest.fixture
def tab(chromium: Browser, server: Server) -> Iterator[Tab]:
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    opened = Tab(context.new_page(), server.url)

    def only_the_server(route: Route) -> None:
        url = route.request.url
        if url.startswith(server.url + "/"):
            route.continue_()
        else:
            opened.blocked.append(url)
            route.abort()

    context.route("**/*", only_the_server)
    yield opened
    context.close()
