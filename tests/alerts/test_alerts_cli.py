"""``hpcpolicy alerts test|list`` against real local SMTP and webhook servers, and bad settings refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpcpolicy.cli.service_cmds import governance_from, settings_from
from hpcpolicy.engine import Amounts
from hpcpolicy.ledger import AdjustmentKind
from tests.alerts.conftest import alerting_policy
from tests.alerts.servers import Hook, Mailbox, free_port
from tests.cli.conftest import clean_service_env
from tests.cli.test_audit_cli import run


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, servers: tuple[int, Mailbox, Hook]) -> Iterator[list[str]]:
    port, _, hook = servers
    clean_service_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text(alerting_policy(), encoding="utf-8")
    monkeypatch.setenv("HPCPOLICY_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("HPCPOLICY_SMTP_PORT", str(port))
    monkeypatch.setenv("HPCPOLICY_SMTP_FROM", "alerts@hpc.example")
    monkeypatch.setenv("HPCPOLICY_ALERT_WEBHOOKS", f"ops={hook.url}")
    yield ["--policy", str(policy), "--data-dir", str(tmp_path / "state")]


def test_a_sample_reaches_every_channel(setup: list[str], servers: tuple[int, Mailbox, Hook]) -> None:
    _, box, hook = servers
    code, out, err = run("alerts", "test", "project:proj", *setup)
    assert (code, err) == (0, "") and out.splitlines() == ["ok      email    pi@uni.example", "ok      webhook  ops"]
    assert len(box.mails) == 1 and len(hook.posts) == 1


def test_a_failing_channel_is_named_and_exits_non_zero(setup: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    down = f"http://127.0.0.1:{free_port()}/hooks/secret-token"
    monkeypatch.setenv("HPCPOLICY_ALERT_WEBHOOKS", f"ops={down}")
    code, out, err = run("alerts", "test", "project:proj", *setup)
    assert code == 1 and "ok      email    pi@uni.example" in out
    assert "FAILED  webhook  ops: webhook 'ops': ConnectError" in err and "1 of 2 channel(s) failed" in err
    assert "secret-token" not in out + err


def test_hostile_and_unknown_scopes_and_bad_settings(setup: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run("alerts", "test", "project:a\nBcc: x@evil.example", *setup)
    assert code == 1 and "control character" in err
    code, _, err = run("alerts", "test", "project:nope", *setup)
    assert code == 1 and "project:nope is not in the policy" in err
    code, out, _ = run("alerts", "test", "user:someone", *setup)
    assert code == 0 and out.splitlines() == ["ok      webhook  ops"]  # a user without contacts: webhooks only
    monkeypatch.setenv("HPCPOLICY_ALERT_WEBHOOKS", "ops=ftp://hooks.example/secret-token")
    code, _, err = run("alerts", "list", *setup)
    assert code == 1 and "HPCPOLICY_ALERT_WEBHOOKS: entry 1 is not name=http(s)://" in err
    assert "secret-token" not in err
    monkeypatch.setenv("HPCPOLICY_ALERT_WEBHOOKS", "")
    monkeypatch.setenv("HPCPOLICY_SMTP_FROM", "alerts@hpc.example\r\nBcc: x@evil.example")
    code, _, err = run("alerts", "list", *setup)
    assert code == 1 and "smtp_from" in err


def test_list_shows_what_fired_and_its_delivery(setup: list[str], servers: tuple[int, Mailbox, Hook]) -> None:
    _, box, _ = servers
    gov = governance_from(settings_from(policy=Path(setup[1]), data_dir=Path(setup[3])), distribute=False)
    gov.accounts.adjust("project:proj", AdjustmentKind.DEBIT, Amounts(850, 0, 0), "usage", "admin")
    gov.alerts.evaluate()
    gov.alerts.deliver_due()
    gov.alerts.channels.close()
    assert len(box.mails) == 1
    code, out, _ = run("alerts", "list", "--scope", "project:proj", *setup)
    assert code == 0 and "budgets  used:0.8  project:proj: 85 % of the monthly budget used" in out
    assert "delivered email    pi@uni.example  attempts 1" in out and "1 alert(s)" in out
    code, out, _ = run("alerts", "list", "--json", *setup)
    [row] = json.loads(out)
    assert row["condition"] == "used:0.8" and {d["state"] for d in row["deliveries"]} == {"delivered"}
    code, out, _ = run("alerts", "list", "--scope", "team:team", *setup)
    assert code == 0 and "0 alert(s)" in out
