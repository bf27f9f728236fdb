"""``hpcpolicy audit deliver``: the worker in the foreground, and the delivery settings refusing hostile values."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from hpcpolicy.cli.main import app
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.settings import ServiceSettings
from tests.cli.conftest import clean_service_env
from tests.delivery.events import fill
from tests.delivery.receiver import receiver
from tests.ledger.conftest import sqlite_ledger


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    clean_service_env(monkeypatch)
    monkeypatch.setenv("HPCPOLICY_AUDIT_LOG", "true")
    ledger = sqlite_ledger(tmp_path)
    fill(SqlLedger(ledger.engine, audit=True), 120)
    ledger.engine.dispose()
    ours = logging.getLogger("hpcpolicy")  # the command configures logging as a service does: put it back after
    saved = (ours.handlers[:], ours.level, ours.propagate)
    yield tmp_path
    ours.handlers[:], ours.level, ours.propagate = saved


def run(*args: str) -> tuple[int, str, str]:
    done = CliRunner().invoke(app, list(args))
    return done.exit_code, done.stdout, done.stderr


def test_deliver_once_sends_what_is_sealed_then_resumes(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with receiver([]) as sink_side:
        monkeypatch.setenv("HPCPOLICY_AUDIT_WEBHOOK_URL", sink_side.url)
        assert run("audit", "deliver", "--once", "--data-dir", str(data_dir))[:2] == (
            0, "webhook: delivered 120 event(s); acknowledged up to seq 120\n")  # fmt: skip
        assert run("audit", "deliver", "--once", "--sink", "webhook", "--data-dir", str(data_dir))[:2] == (
            0, "webhook: delivered 0 event(s); acknowledged up to seq 120\n")  # fmt: skip
    assert [event["hpcpolicyseq"] for event in sink_side.accepted()] == list(range(1, 121))


def test_deliver_once_gives_up_on_a_sink_that_keeps_failing(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HPCPOLICY_AUDIT_RETRY_MAX_SECONDS", "0.05")
    with receiver(["500"] * 5) as sink_side:
        monkeypatch.setenv("HPCPOLICY_AUDIT_WEBHOOK_URL", sink_side.url)
        code, _, err = run("audit", "deliver", "--once", "--data-dir", str(data_dir))
    assert code == 1 and "5 failures in a row" in err and "answered 500" in err


def test_deliver_needs_a_sink(data_dir: Path) -> None:
    code, _, err = run("audit", "deliver", "--once", "--data-dir", str(data_dir))
    assert code == 1 and "no audit sink configured" in err
    code, _, err = run("audit", "deliver", "--sink", "kafka", "--data-dir", str(data_dir))
    assert code == 1 and "unknown sink 'kafka'" in err


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("audit_webhook_url", "file:///etc/passwd"),
        ("audit_webhook_url", "http://"),
        ("audit_webhook_url", "https://host:99999/"),
        ("audit_webhook_url", "http://host/a b"),
        ("audit_webhook_url", "http://host/\r\nX-Injected: 1"),
        ("audit_nats_url", "http://127.0.0.1:4222"),
        ("audit_nats_url", "nats://a:4222,redis://b:6379"),
        ("audit_nats_stream", "EVENTS.>"),
        ("audit_lease_seconds", 0),
        ("audit_lease_seconds", float("nan")),
        ("audit_webhook_batch", 0),
        ("audit_nats_batch", 10**9),
        ("audit_retry_max_seconds", -1),
    ],
)
def test_hostile_delivery_settings_are_refused(name: str, value: object) -> None:
    with pytest.raises(ValidationError):
        ServiceSettings(**{name: value})


def test_delivery_settings_that_are_accepted() -> None:
    settings = ServiceSettings(audit_nats_url=" nats://a:4222, tls://b:4222 ", audit_webhook_url="https://h/x")
    assert settings.audit_nats_url == "nats://a:4222,tls://b:4222" and settings.audit_webhook_url == "https://h/x"
    assert settings.audit_nats_stream == "HPCPOLICY_EVENTS" and settings.audit_lease_seconds == 10
