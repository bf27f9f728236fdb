"""What the dashboard's pages say: the API's numbers, alerts past 80 %, rule text, escaping, bad input."""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hpcpolicy.api import create_app
from hpcpolicy.auth import Authenticator
from hpcpolicy.cluster.revisions import RevisionStore
from hpcpolicy.engine import Amounts, Request
from hpcpolicy.ledger import AdjustmentKind, JobUsage
from hpcpolicy.ledger.base import LedgerUnavailable
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from hpcpolicy.ui.formats import num
from tests.alerts.conftest import alerting_policy
from tests.api.conftest import dev_settings
from tests.ui.conftest import as_key, as_user

BIG_JOB = Request(user_id="dan", project="imaging-ai", partition="cpu", cpus=1024, nodes=16, walltime_hours=16)


def run_job(gov: Governance, clock, request: Request, hours: float) -> str:
    out = gov.decide(request, f"user:{request.user_id}", reserve=True)
    assert out.allow, out.decision
    gov.jobs.start(out.decision_id, f"job-{out.decision_id[:6]}")
    clock.advance(hours=hours)
    gov.jobs.finish(out.decision_id, JobUsage(elapsed_hours=hours))
    return out.decision_id


def cells(html: str, quota: str, metric: str) -> dict[str, str]:
    """The budget table's cells of one quota's metric: class → (data-value or text)."""
    row = cells_row(html, quota, metric)
    found = re.findall(r'<td class="n (\w+)"(?: data-value="([^"]*)")?>([^<]*)</td>', row)
    return {name: value or text for name, value, text in found} | {
        f"{name}_text": text for name, _, text in found
    }


def test_the_overview_shows_the_apis_numbers(client: TestClient, keys, gov: Governance, clock) -> None:
    run_job(gov, clock, Request(user_id="alice", partition="cpu", cpus=64, walltime_hours=10), 7.5)
    gov.decide(Request(user_id="bob", project="wgs-cohort", partition="cpu", cpus=16, walltime_hours=3), "user:bob",
               reserve=True)  # fmt: skip
    api = client.get("/v1/usage?scope=project:wgs-cohort", headers={"X-API-Key": keys["admin"]}).json()
    as_key(client, keys["admin"])
    html = client.get("/ui/").text
    checked = 0
    for b in api["balances"]:
        if b["metric"] not in ("cpu_hours", "gpu_hours", "cost") or b["limit"] is None:
            continue
        row = cells(html, b["quota_id"], b["metric"])
        for field in ("charged", "reserved", "limit", "available"):
            assert float(row[field]) == pytest.approx(b[field], abs=1e-9)
            assert row[f"{field}_text"] == num(b[field])
        checked += 1
    assert checked == 3 and cells(html, "project:wgs-cohort", "cpu_hours")["charged_text"] == "480"


def test_a_budget_past_80_percent_shows_the_alert(client: TestClient, keys, gov: Governance, clock) -> None:
    as_key(client, keys["admin"])
    assert 'data-quota="project:imaging-ai" data-metric="cpu_hours"' not in client.get("/ui/").text
    run_job(gov, clock, BIG_JOB, 16)  # 16,384 of 20,000 CPU-hours: 82 %
    for path in ("/ui/", "/ui/scopes/project:imaging-ai"):
        html = client.get(path).text
        alert = html.split('id="budget-alerts"', 1)[1].split("</section>", 1)[0]
        assert 'data-quota="project:imaging-ai" data-metric="cpu_hours"' in alert and "82 % used" in alert
        assert "at risk" in cells_row(html, "project:imaging-ai", "cpu_hours")
    as_user(client, "dan")  # the project's PI sees it too
    assert 'data-quota="project:imaging-ai" data-metric="cpu_hours"' in client.get("/ui/").text


def test_the_overview_shows_the_shared_reading_and_when_it_was_made(gov: Governance, clock) -> None:
    shared = Governance(replace(gov.ctx, standings_max_age=timedelta(seconds=30)))
    read_at = clock.now
    with TestClient(create_app(shared, Authenticator(dev_settings()))) as client:
        assert cells(client.get("/ui/").text, "project:imaging-ai", "cpu_hours")["reserved_text"] == "0"
        clock.advance(seconds=5)
        assert shared.decide(BIG_JOB, "user:dan", reserve=True).allow  # 16,384 CPU-hours reserved
        clock.advance(seconds=15)
        html = client.get("/ui/").text  # the reading of 20 s ago, saying when it was made
        assert cells(html, "project:imaging-ai", "cpu_hours")["reserved_text"] == "0"
        assert f'<span id="read-at">{read_at:%Y-%m-%d %H:%M:%S} UTC</span>' in html
        scope = client.get("/ui/scopes/project:imaging-ai").text  # one scope is read as it is now
        assert cells(scope, "project:imaging-ai", "cpu_hours")["reserved_text"] == "16,384"
        clock.advance(seconds=11)
        assert cells(client.get("/ui/").text, "project:imaging-ai", "cpu_hours")["reserved_text"] == "16,384"


def cells_row(html: str, quota: str, metric: str) -> str:
    body = html.split(f'<tbody class="quota" data-quota="{quota}"', 1)[1].split("</tbody>", 1)[0]
    return body.split(f'data-metric="{metric}"', 1)[1].split("</tr>", 1)[0]


def test_the_scope_page_has_charts_liens_top_users_and_denials(client: TestClient, keys, gov: Governance,
                                                               clock) -> None:  # fmt: skip
    run_job(gov, clock, Request(user_id="alice", partition="cpu", cpus=32, walltime_hours=4), 2)
    open_lien = gov.decide(Request(user_id="bob", project="wgs-cohort", partition="cpu", cpus=8), "user:bob",
                           reserve=True)  # fmt: skip
    denied = gov.decide(Request(user_id="alice", partition="gpu", gpus=1), "user:alice").decision_id
    as_key(client, keys["admin"])
    html = client.get("/ui/scopes/project:wgs-cohort").text
    assert html.count('<svg class="chart"') == 3 and 'class="forecast"' in html
    assert open_lien.lien_id is not None and open_lien.lien_id[:8] in html.split('id="liens"')[1]
    top = html.split('id="top-users"', 1)[1].split("</table>", 1)[0]
    assert "<td>alice</td>" in top and "64" in top
    assert denied in html.split('id="denials"', 1)[1] and "gpu.role_required" in html
    assert 'href="/ui/decisions?scope=project%3Awgs-cohort&amp;answer=denied"' in html


def test_a_denial_shows_each_rule_and_its_policy_lines(client: TestClient, keys, gov: Governance) -> None:
    denied = gov.decide(Request(user_id="alice", partition="cpu", cpus=2048, gpus=2, walltime_hours=200),
                        "user:alice").decision_id  # fmt: skip
    as_key(client, keys["admin"])
    html = client.get(f"/ui/decisions/{denied}").text
    assert 'id="answer">denied' in html and "Rule text from the active policy" in html
    for code in ("limit.max_cpus", "limit.max_walltime", "gpu.role_required", "quota.cpu_hours_exceeded"):
        assert f'data-code="{code}"' in html
    gpu_rule = html.split('data-code="gpu.role_required"', 1)[1].split("</div>", 1)[0]
    assert "gpu: {role: gpu_user}" in gpu_rule and "Policy line" in gpu_rule


def test_names_from_requests_are_escaped(client: TestClient, keys, gov: Governance) -> None:
    evil = "<script>alert(1)</script>"
    decided = gov.decide(Request(user_id=evil, partition="cpu", cpus=1), "dev").decision_id
    as_key(client, keys["admin"])
    for path in ("/ui/decisions", f"/ui/decisions/{decided}", f"/ui/decisions?user={evil}", f"/ui/?q={evil}"):
        html = client.get(path).text
        assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path


BAD_INPUT = ["/ui/?n=0", "/ui/?n=1" + "0" * 400, "/ui/?n=NaN", "/ui/?q=%00", "/ui/?q=" + "x" * 300, "/ui/?risk=2",
             "/ui/decisions?since=garbage", "/ui/decisions?until=2026-13-01", "/ui/decisions?user=%00",
             "/ui/decisions?user=" + "u" * 300, "/ui/decisions?code=made.up", "/ui/decisions?answer=maybe",
             "/ui/decisions?before=junk", "/ui/decisions?before=2026-01-01T00:00~%00",
             "/ui/decisions?project=a&scope=project:b", "/ui/decisions?scope=galaxy:far",
             "/ui/decisions?since=2026-11-20&until=2026-11-10", "/ui/decisions?until=9999-12-31",
             "/ui/decisions?since=0001-01-01", "/ui/decisions?before=9999-12-31T23:59:59~d1", "/ui/policy/revisions/0",
             "/ui/policy/revisions/" + "9" * 30, "/ui/policy/revisions/1e308"]  # fmt: skip


@pytest.mark.parametrize("path", BAD_INPUT)
def test_bad_input_gets_a_400_page_that_names_it(client: TestClient, keys, path: str) -> None:
    as_key(client, keys["admin"])
    page = client.get(path)
    assert page.status_code == 400, (path, page.status_code)
    assert "HTTP 400" in page.text and 'id="error-detail"' in page.text and "Traceback" not in page.text


MISSING = ["/ui/scopes/galaxy:far", "/ui/scopes/project:%00", "/ui/scopes/project:" + "p" * 300,
           "/ui/scopes/project:nope", "/ui/decisions/" + "d" * 300, "/ui/decisions/nope", "/ui/decisions/%00",
           "/ui/policy/revisions/5", "/ui/nowhere"]  # fmt: skip


@pytest.mark.parametrize("path", MISSING)
def test_what_does_not_exist_is_a_404_page(client: TestClient, keys, path: str) -> None:
    as_key(client, keys["admin"])
    page = client.get(path)
    assert page.status_code == 404 and "HTTP 404" in page.text


def test_the_policy_page_lists_revisions_and_each_diff(client: TestClient, keys, gov: Governance) -> None:
    store = RevisionStore(gov.ctx.ledger)  # type: ignore[arg-type]
    text = gov.ctx.policies.current.text
    store.seed(gov.ctx.policies.current.loaded.version, text, "policy.yaml", "user:root")
    edited = text.replace("gpu: {role: gpu_user}", "gpu: {role: gpu_people}")
    store.append("v2", edited, "upload by user:root", "user:<b>root</b>")
    as_key(client, keys["admin"])
    page = client.get("/ui/policy").text
    assert 'href="/ui/policy/revisions/2"' in page and "user:&lt;b&gt;root&lt;/b&gt;" in page
    diff = client.get("/ui/policy/revisions/2").text
    assert '<span class="del">-  gpu: {role: gpu_user}' in diff
    assert '<span class="add">+  gpu: {role: gpu_people}' in diff
    assert "guards" in diff.split('id="summary"', 1)[1].split("</dl>", 1)[0]


class DownLedger:
    """A ledger whose database cannot be reached."""

    def session(self) -> AbstractContextManager[object]:
        raise LedgerUnavailable("connection refused")

    def reading(self) -> AbstractContextManager[object]:
        raise LedgerUnavailable("connection refused")

    def ping(self) -> None:
        raise LedgerUnavailable("connection refused")


@pytest.mark.parametrize("path", ["/ui/", "/ui/scopes/project:wgs-cohort", "/ui/decisions", "/ui/queue",
                                  "/ui/fairshare", "/ui/decisions/some-id"])  # fmt: skip
def test_an_unreachable_ledger_gets_a_503_page(path: str) -> None:
    gov = Governance(Context(DownLedger(), PolicyStore.from_file(None, env={})))  # type: ignore[arg-type]
    with TestClient(create_app(gov, Authenticator(dev_settings())), raise_server_exceptions=False) as client:
        page = client.get(path)
    assert page.status_code == 503 and "ledger database cannot be reached" in page.text


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_every_page_renders_on_every_ledger_backend(request: pytest.FixtureRequest, tmp_path: Path, clock,
                                                   backend: str) -> None:  # fmt: skip
    from tests.ledger.conftest import backend_ledger

    ledger = backend_ledger(backend, request, tmp_path)
    gov = Governance(Context(ledger, PolicyStore.from_file(None, env={}), clock=clock))
    run_job(gov, clock, Request(user_id="alice", partition="cpu", cpus=8, walltime_hours=4), 3)
    denied = gov.decide(Request(user_id="alice", partition="gpu", gpus=1), "user:alice").decision_id
    with TestClient(create_app(gov, Authenticator(dev_settings())), raise_server_exceptions=False) as client:
        for path in ("/ui/", "/ui/scopes/project:wgs-cohort", "/ui/scopes/team:genomics", "/ui/decisions",
                     f"/ui/decisions/{denied}", "/ui/decisions?project=wgs-cohort&code=gpu.role_required",
                     "/ui/queue", "/ui/fairshare", "/ui/policy"):  # fmt: skip
            page = client.get(path)
            assert page.status_code == 200, (backend, path, page.text[:500])
        assert denied in client.get("/ui/decisions?project=wgs-cohort&code=gpu.role_required").text
    if backend == "sqlite":
        ledger.engine.dispose()


def test_a_scope_page_lists_the_alerts_sent_and_their_delivery(client: TestClient, keys, gov: Governance) -> None:
    gov.ctx.policies.replace(alerting_policy())
    as_key(client, keys["admin"])
    assert "No alert sent for project:proj" in client.get("/ui/scopes/project:proj").text
    gov.accounts.adjust("project:proj", AdjustmentKind.DEBIT, Amounts(850, 0, 0), "usage", "admin")
    (fired,) = gov.alerts.evaluate()
    gov.alerts.deliver_due()  # no SMTP server and no webhook URL configured here: both stay pending, retried
    html = client.get("/ui/scopes/project:proj").text
    sent = html.split('id="alerts-sent"', 1)[1].split("</table>", 1)[0]
    assert fired.summary in sent and "85 %" in sent
    assert "email: pending" in sent and "webhook: pending" in sent
