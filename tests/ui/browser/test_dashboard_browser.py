"""The dashboard in Chromium against a live server: sign-in, the API's numbers, a PI kept to their projects,
the 80 % alert, and pages that need nothing from the network."""

from __future__ import annotations

from hpcpolicy.ui.formats import num
from tests.api.identities import token
from tests.ui.browser.conftest import Server, Tab

PAGES = ["/ui/", "/ui/scopes/project:alpha", "/ui/decisions", "/ui/queue", "/ui/fairshare", "/ui/policy"]


def test_sign_in_with_a_key_and_out_again(tab: Tab, server: Server) -> None:
    tab.open("/ui/decisions")
    assert tab.page.url.startswith(f"{server.url}/ui/login?next=")
    tab.page.fill("#credential", "hpk_wrong_key")
    tab.page.click("button[type=submit]")
    assert "Sign-in failed" in tab.page.inner_text("#login-error")
    tab.sign_in(server.admin_key)
    assert tab.page.inner_text("#signed-in-as") == "API key 'browser-admin'"
    cookie = next(c for c in tab.page.context.cookies() if c["name"] == "hpcpolicy_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"
    tab.page.click("text=Sign out")
    tab.page.wait_for_url(f"{server.url}/ui/login")
    tab.open("/ui/")
    assert "/ui/login" in tab.page.url


def test_the_overviews_numbers_equal_the_apis(tab: Tab, server: Server) -> None:
    server.reserve("pi-beta", cpus=8, hours=2.5)  # 20 of beta's 100 CPU-hours
    api = server.api("GET", "/v1/usage", params={"scope": "project:beta"}).json()
    (balance,) = [b for b in api["balances"] if b["metric"] == "cpu_hours"]
    tab.sign_in(server.admin_key)
    row = tab.page.locator(f'tbody[data-quota="{balance["quota_id"]}"] tr[data-metric="cpu_hours"]')
    for field in ("charged", "reserved", "limit", "available"):
        assert row.locator(f"td.{field}").inner_text() == num(balance[field]), field
    assert row.locator("td.reserved").inner_text() == "20"


def test_a_pi_cannot_open_another_projects_page(tab: Tab, server: Server) -> None:
    tab.sign_in(token("pi-alpha"))
    assert tab.page.inner_text("#signed-in-as") == "user 'pi-alpha'"
    listed = tab.page.locator("tbody.quota").evaluate_all("rows => rows.map(r => r.dataset.scope)")
    assert "project:alpha" in listed and "project:beta" not in listed
    response = tab.open("/ui/scopes/project:beta")
    assert response is not None and response.status == 403
    assert tab.page.inner_text("h1") == "Not yours to see"
    response = tab.open("/ui/scopes/project:alpha")
    assert response is not None and response.status == 200


def test_a_budget_crossing_80_percent_shows_the_alert(tab: Tab, server: Server) -> None:
    tab.sign_in(server.admin_key)
    alert = 'li[data-quota="project:alpha"][data-metric="cpu_hours"]'
    assert tab.page.locator(alert).count() == 0
    server.reserve("pi-alpha", cpus=64, hours=1.3)  # 83.2 of alpha's 100 CPU-hours
    for path in ("/ui/", "/ui/scopes/project:alpha"):
        tab.open(path)
        assert tab.page.locator(f"#budget-alerts {alert}").is_visible()
        assert "83 % used" in tab.page.locator(alert).inner_text()
    tab.sign_in(token("pi-alpha"))  # the project's PI sees it on their overview too
    assert tab.page.locator(f"#budget-alerts {alert}").is_visible()


def test_pages_render_fully_without_any_external_request(tab: Tab, server: Server) -> None:
    server.reserve("pi-alpha", cpus=4, hours=1)
    tab.sign_in(server.admin_key)
    for path in PAGES:
        response = tab.open(path)
        assert response is not None and response.status == 200, path
        header = tab.page.locator("header.top").evaluate("e => getComputedStyle(e).backgroundColor")
        assert header == "rgb(23, 32, 46)", path  # the stylesheet arrived and applies
    tab.open("/ui/scopes/project:alpha")
    assert tab.page.locator("svg.chart polyline.forecast").count() >= 1
    assert tab.page.locator("svg.bar").count() >= 1
    assert tab.blocked == []
