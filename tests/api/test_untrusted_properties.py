"""Property: no sequence of calls by an untrusted caller moves any balance beyond its own open liens.

A user with a token (``alice``) fires any sequence of requests at the HTTP API — decisions with and
without reservations, with sane and hostile numbers, job ids and idempotency keys; start, finish and
cancel with any usage on her own liens and on ids she guesses; adjustments, policy uploads, other
users' balances. After every step, every scope's balance must equal what the ledger held before (no
charges, no adjustments) plus exactly the open liens she holds, each within every quota on its path.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from hpcpolicy.api import create_app
from hpcpolicy.auth import Authenticator
from hpcpolicy.ledger.rules import lien_scopes
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from tests.api.identities import secured_settings, user
from tests.ledger.conftest import sqlite_ledger
from tests.service.conftest import Clock

SCOPES = ["user:alice", "project:wgs-cohort", "project:rnaseq-atlas", "team:genomics", "org:biocenter", "user:bob"]
HOSTILE = st.sampled_from([-1, 0, 1e308, 1e300, 10**400, float("inf"), float("nan")])
SANE_HOURS = st.floats(min_value=0, max_value=200, allow_nan=False)
NUMBER = st.one_of(SANE_HOURS, HOSTILE, st.integers(min_value=-5, max_value=2000))
SANE_JOB = st.fixed_dictionaries(
    {
        "partition": st.just("cpu"),
        "cpus": st.integers(min_value=1, max_value=64),
        "walltime_hours": st.floats(min_value=0.5, max_value=48),
        "reserve": st.just(True),
    },
    optional={"project": st.sampled_from(["wgs-cohort", "rnaseq-atlas"])},
)
SANE_USAGE = st.fixed_dictionaries(
    {"elapsed_hours": st.floats(min_value=0, max_value=2)}, optional={"cpus": st.just(1)}
)
HOSTILE_JOB = st.fixed_dictionaries(
    {"partition": st.sampled_from(["cpu", "highmem", "gpu"]), "reserve": st.booleans()},
    optional={
        "cpus": NUMBER,
        "walltime_hours": NUMBER,
        "cpu_hours": NUMBER,
        "memory_gb": NUMBER,
        "gpus": st.integers(min_value=0, max_value=2),
        "project": st.sampled_from(["wgs-cohort", "rnaseq-atlas", "protein-lm"]),
        "job_id": st.sampled_from(["1", "2", "bob-job"]),
        "idempotency_key": st.sampled_from(["k1", "k2"]),
        "user_id": st.sampled_from(["alice", "bob"]),
    },
)
HOSTILE_USAGE = st.fixed_dictionaries(
    {},
    optional={
        "elapsed_hours": NUMBER,
        "elapsed_seconds": NUMBER,
        "cpus": NUMBER,
        "ended_at": st.sampled_from(["2001-01-01T00:00:00Z", "2999-01-01T00:00:00Z", "2026-11-15T13:00:00Z"]),
        "outcome": st.sampled_from(["cancelled", "failed"]),
    },
)
_TEMPLATE: list[Path] = []


def template_ledger() -> Path:
    """A migrated SQLite ledger made once; each example works on a copy (migrating costs more than a run)."""
    if not _TEMPLATE:
        folder = Path(tempfile.mkdtemp(prefix="hpcpolicy-template-"))
        sqlite_ledger(folder).engine.dispose()
        _TEMPLATE.append(folder / "ledger.db")
    return _TEMPLATE[0]


def json_body(value: Any) -> str:
    """JSON as a hostile client writes it: Python's encoder emits Infinity/NaN and huge integers as is."""
    return json.dumps(value)


class UntrustedUser(RuleBasedStateMachine):
    liens = Bundle("liens")

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="hpcpolicy-prop-"))
        shutil.copy(template_ledger(), self.folder / "ledger.db")
        (self.folder / "keys.yaml").write_text("keys: []\n")
        self.clock = Clock(datetime(2026, 11, 15, 12, 0, tzinfo=UTC))
        ledger = sqlite_ledger(self.folder)
        self.gov = Governance(Context(ledger, PolicyStore.from_file(None, env={}), clock=self.clock,
                                      lien_ttl=timedelta(hours=24)))  # fmt: skip
        app = create_app(self.gov, Authenticator(secured_settings(self.folder / "keys.yaml")))
        self.api = TestClient(app, raise_server_exceptions=False)
        self.alice = user("alice")

    def teardown(self) -> None:
        self.api.close()
        self.gov.ctx.ledger.engine.dispose()  # type: ignore[attr-defined]
        shutil.rmtree(self.folder, ignore_errors=True)

    def call(self, method: str, url: str, body: Any = None, **kwargs: Any) -> Any:
        headers = self.alice | {"content-type": "application/json"}
        content = json_body(body) if body is not None else None
        response = self.api.request(method, url, content=content, headers=headers, **kwargs)
        assert response.status_code < 500, (method, url, body, response.text)
        return response

    @rule(target=liens, job=st.one_of(SANE_JOB, SANE_JOB, HOSTILE_JOB))
    def decide(self, job: dict[str, Any]) -> str:
        response = self.call("POST", "/v1/decisions", job)
        lien = response.json().get("lien_id") if response.status_code == 200 else None
        return str(lien or "no-such-lien")

    @rule(lien=liens, usage=st.one_of(SANE_USAGE, HOSTILE_USAGE), action=st.sampled_from(["start", "finish"]))
    def report(self, lien: str, usage: dict[str, Any], action: str) -> None:
        self.call("POST", f"/v1/jobs/{lien}/{action}", usage if usage or action == "finish" else None)

    @rule(lien=liens)
    def withdraw(self, lien: str) -> None:
        self.call("POST", f"/v1/jobs/{lien}/cancel")

    @rule(ref=st.sampled_from(["1", "2", "bob-job", "00000000-0000-0000-0000-000000000000"]), usage=HOSTILE_USAGE)
    def guess(self, ref: str, usage: dict[str, Any]) -> None:
        self.call("POST", f"/v1/jobs/{ref}/finish", usage or {"elapsed_hours": 1})

    @rule(amount=NUMBER, kind=st.sampled_from(["grant", "debit", "refund"]))
    def adjust(self, amount: Any, kind: str) -> None:
        body = {"scope": "user:alice", "kind": kind, "cpu_hours": amount, "reason": "mine"}
        self.call("POST", "/v1/adjustments", body)

    @rule()
    def upload_policy(self) -> None:
        assert self.api.put("/v1/policy", content="apiVersion: hpcpolicy/v1\n", headers=self.alice).status_code == 403

    @rule(hours=st.floats(min_value=0, max_value=30))
    def time_passes(self, hours: float) -> None:
        self.clock.advance(hours=hours)

    @invariant()
    def balances_move_only_by_her_own_open_liens(self) -> None:
        now = self.clock.now
        with self.gov.ctx.ledger.session() as tx:
            mine = [lien for lien in tx.open_liens() if lien.expires_at > now or lien.state.value == "running"]
            assert all(lien.user_id == "alice" for lien in mine), "a lien for someone else"
            for scope in SCOPES:
                settled = tx.settled(scope, now - timedelta(days=400), now + timedelta(days=400))
                assert settled.cpu_hours == settled.gpu_hours == settled.cost == 0, f"{scope} was charged"
                held, _ = tx.reserved(scope, now)
                own = [lien for lien in mine if scope in lien_scopes(lien)]
                assert abs(held.cpu_hours - sum(lien.amounts.cpu_hours for lien in own)) < 1e-6
        for scope in ("project:wgs-cohort", "project:rnaseq-atlas", "team:genomics", "org:biocenter"):
            for balance in self.gov.accounts.balances(scope, now):
                if balance.available is not None:
                    assert balance.available >= -1e-6, f"{balance.quota_id} {balance.metric} overspent"


TestUntrustedUser = UntrustedUser.TestCase
TestUntrustedUser.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
