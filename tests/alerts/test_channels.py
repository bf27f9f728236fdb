"""The channels on their own: the mail and the webhook body, header injection refused, webhook settings
parsed without ever repeating a URL, SMTP failures as channel errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hpcpolicy.ledger.alerts import EMAIL, AlertDelivery, AlertRecord
from hpcpolicy.service.alert_channels import (
    AlertSettings,
    ChannelError,
    Channels,
    SmtpSettings,
    email_message,
    parse_webhooks,
    webhook_payload,
)
from tests.alerts.servers import Mailbox, free_port

AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def record(summary: str = "project:wgs: 82 % of the monthly budget used", scope: str = "project:wgs") -> AlertRecord:
    return AlertRecord("a1", "k", "budgets", scope, scope, "used:0.8", AT, AT, summary, {})


def test_the_mail_and_the_webhook_say_the_same_line() -> None:
    mail = email_message(record(), "pi@uni.example", "alerts@hpc.example", "https://hpc.example/")
    assert mail["To"] == "pi@uni.example" and mail["From"] == "alerts@hpc.example"
    assert mail["Subject"] == "[hpcpolicy] project:wgs: 82 % of the monthly budget used"
    assert mail["Message-ID"].endswith("@hpc.example>") and mail["Date"] == "Fri, 20 Nov 2026 09:30:00 +0000"
    assert "Dashboard: https://hpc.example/ui/scopes/project:wgs" in mail.get_content()
    assert webhook_payload(record(), None) == {
        "text": "[hpcpolicy] project:wgs: 82 % of the monthly budget used (rule budgets)"}  # fmt: skip
    member = webhook_payload(record(scope="project:wgs/user:al"), "https://hpc.example")
    assert member["text"].endswith("https://hpc.example/ui/scopes/project:wgs/user:al")


@pytest.mark.parametrize("hostile", ["x\r\nBcc: victim@evil.example", "x\nBcc: victim@evil.example", "x\rBcc: v"])
def test_a_line_break_cannot_add_a_header_or_a_recipient(hostile: str) -> None:
    with pytest.raises(ValueError):
        email_message(record(summary=hostile), "pi@uni.example", "alerts@hpc.example", None)
    with pytest.raises(ValueError):
        email_message(record(), f"pi@uni.example{hostile[1:]}", "alerts@hpc.example", None)
    channels = Channels(AlertSettings(smtp=SmtpSettings("127.0.0.1", free_port())))
    with pytest.raises(ChannelError, match="not built") as caught:
        channels.mail("pi@uni.example", record(summary=hostile))
    assert caught.value.permanent


def test_webhook_settings_parse_and_never_repeat_a_url() -> None:
    text = " ops=https://hooks.slack.com/services/T0/B0/XYZ , mm=http://chat.example/hooks/abc ,"
    assert parse_webhooks(text) == {"ops": "https://hooks.slack.com/services/T0/B0/XYZ",
                                    "mm": "http://chat.example/hooks/abc"}  # fmt: skip
    assert parse_webhooks("") == {}
    for bad in ("ops", "ops=", "ops=file:///etc/passwd", "ops=https://h/XYZ\x00", "o ps=https://h/XYZ",
                "=https://h/XYZ", "ops=https:///XYZ", f"{'o' * 129}=https://h/XYZ", "ops=https://h/x y"):  # fmt: skip
        with pytest.raises(ValueError, match="entry 1 is not") as caught:
            parse_webhooks(bad)
        assert "XYZ" not in str(caught.value)
    with pytest.raises(ValueError, match="'ops' is named twice"):
        parse_webhooks("ops=https://a/XYZ,ops=https://b/XYZ")


def test_an_unreachable_smtp_server_is_a_retryable_error() -> None:
    channels = Channels(AlertSettings(smtp=SmtpSettings("127.0.0.1", free_port(), timeout=2)))
    with pytest.raises(ChannelError, match="ConnectionRefusedError") as caught:
        channels.send(AlertDelivery("a1", EMAIL, "pi@uni.example", AT), record())
    assert not caught.value.permanent
    with pytest.raises(ChannelError, match="unknown channel") as unknown:
        channels.send(AlertDelivery("a1", "pigeon", "x", AT), record())
    assert unknown.value.permanent


def test_a_refused_recipient_is_permanent_and_the_rest_is_kept(servers: tuple[int, Mailbox, object]) -> None:
    port, box, _ = servers
    channels = Channels(AlertSettings(smtp=SmtpSettings("127.0.0.1", port, "alerts@hpc.example")))
    with pytest.raises(ChannelError, match=r"SMTP refused bad@uni\.example: 550") as caught:
        channels.mail("bad@uni.example", record())
    assert caught.value.permanent and box.mails == []
    channels.mail("pi@uni.example", record())
    assert [m.recipients for m in box.mails] == [["pi@uni.example"]]
