"""Sending an alert: mail over SMTP to a contact, JSON to a Slack- or Mattermost-compatible webhook.

Both take the alert's one-line summary (and a link to the scope's dashboard page when
``HPCPOLICY_PUBLIC_URL`` is set). A webhook gets ``{"text": ...}``, which both Slack's and Mattermost's
incoming webhooks post as is; any 2xx answer is delivery. Mail is a plain-text message built with
:class:`email.message.EmailMessage`, which refuses a header value with a line break, so nothing in an
alert can add a header or a recipient (addresses are checked by the policy's schema as well). Every
failure comes out as :class:`ChannelError`, ``permanent`` when sending again cannot help (the SMTP server
refused the recipient with a 5xx, the webhook answered 4xx other than 408/425/429). A channel that is not
configured (no SMTP host, a webhook name without a URL) is retried: a restart with the setting fixed
delivers what waited.

Webhook URLs carry their credentials (Slack's do), so an error never repeats one.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import quote

import httpx

from hpcpolicy.delivery.urls import HttpUrl
from hpcpolicy.ledger.alerts import EMAIL, WEBHOOK, AlertDelivery, AlertRecord
from hpcpolicy.policy.schema import Name

SUBJECT_PREFIX = "[hpcpolicy]"


class ChannelError(RuntimeError):
    """The channel did not accept the message; ``permanent``: trying again cannot help."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    sender: str = "hpcpolicy@localhost.localdomain"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    tls: bool = False  # implicit TLS (SMTPS, port 465)
    timeout: float = 10.0


@dataclass(frozen=True)
class AlertSettings:
    """How alerts are evaluated and sent (``HPCPOLICY_ALERT_*``, ``HPCPOLICY_SMTP_*``, ``HPCPOLICY_PUBLIC_URL``)."""

    webhooks: Mapping[str, str] = field(default_factory=dict, repr=False)  # name → URL (secret)
    smtp: SmtpSettings | None = None
    public_url: str | None = None
    evaluate_seconds: float = 60.0
    max_attempts: int = 12
    retry_first_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    webhook_timeout: float = 10.0


def parse_webhooks(text: str) -> dict[str, str]:
    """``name=url,name=url`` → {name: url}. ValueError naming the entry (never its URL) when one is not a
    policy name and an http(s) URL, or a name repeats."""
    from pydantic import TypeAdapter, ValidationError

    names, urls = TypeAdapter(Name), TypeAdapter(HttpUrl)
    found: dict[str, str] = {}
    for place, entry in enumerate(p.strip() for p in text.split(",")):
        if not entry:
            continue
        name, sep, url = entry.partition("=")
        try:
            names.validate_python(name.strip())
            checked = urls.validate_python(url) if sep else None
        except ValidationError:
            checked = None
        if checked is None:
            raise ValueError(f"HPCPOLICY_ALERT_WEBHOOKS: entry {place + 1} is not name=http(s)://... "
                             "(name: letters, digits, _.@-)")  # fmt: skip
        if name.strip() in found:
            raise ValueError(f"HPCPOLICY_ALERT_WEBHOOKS: webhook {name.strip()!r} is named twice")
        found[name.strip()] = checked
    return found


def dashboard_link(public_url: str | None, scope: str) -> str | None:
    return f"{public_url.rstrip('/')}/ui/scopes/{quote(scope, safe=':/')}" if public_url else None


def text_of(alert: AlertRecord, public_url: str | None) -> str:
    """The one line both channels carry: the summary, the rule, the dashboard link."""
    link = dashboard_link(public_url, alert.scope)
    return f"{alert.summary} (rule {alert.rule})" + (f" {link}" if link else "")


def webhook_payload(alert: AlertRecord, public_url: str | None) -> dict[str, Any]:
    """Slack and Mattermost incoming webhooks both post ``text``."""
    return {"text": f"{SUBJECT_PREFIX} {text_of(alert, public_url)}"}


def email_message(alert: AlertRecord, to: str, sender: str, public_url: str | None) -> EmailMessage:
    """A plain-text mail of the alert (ValueError if a header would carry a line break)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = f"{SUBJECT_PREFIX} {alert.summary}"[:250]
    message["Date"] = formatdate(alert.fired_at.timestamp(), usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    link = dashboard_link(public_url, alert.scope)
    lines = [alert.summary, "", f"Scope: {alert.scope}", f"Rule: {alert.rule}", f"Condition: {alert.condition}",
             f"Window from: {alert.window_start.isoformat()}", f"Fired at: {alert.fired_at.isoformat()}"]  # fmt: skip
    if link:
        lines.append(f"Dashboard: {link}")
    lines += ["", "-- ", "hpc-policy-engine budget alerts (docs/alerts.md)"]
    message.set_content("\n".join(lines) + "\n")
    return message


class Channels:
    """Sends one delivery of an alert on its channel (blocking: run it off the event loop)."""

    def __init__(self, settings: AlertSettings, client: httpx.Client | None = None):
        self.settings = settings
        self._client = client  # made at the first post: most processes never send an alert

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client()
        return self._client

    def send(self, delivery: AlertDelivery, alert: AlertRecord) -> None:
        if delivery.channel == EMAIL:
            self.mail(delivery.recipient, alert)
        elif delivery.channel == WEBHOOK:
            self.post(delivery.recipient, webhook_payload(alert, self.settings.public_url))
        else:
            raise ChannelError(f"unknown channel {delivery.channel!r}", permanent=True)

    def post(self, name: str, payload: dict[str, Any]) -> None:
        url = self.settings.webhooks.get(name)
        if url is None:
            raise ChannelError(f"webhook {name!r} has no URL (HPCPOLICY_ALERT_WEBHOOKS)")
        try:
            response = self.client.post(url, json=payload, timeout=self.settings.webhook_timeout)
        except httpx.HTTPError as exc:
            raise ChannelError(f"webhook {name!r}: {type(exc).__name__}: {_without(str(exc), url)}") from None
        if not response.is_success:
            code = response.status_code
            permanent = 400 <= code < 500 and code not in (408, 425, 429)
            raise ChannelError(f"webhook {name!r} answered {code}: {_without(response.text[:200], url)}",
                               permanent=permanent)  # fmt: skip

    def mail(self, to: str, alert: AlertRecord) -> None:
        smtp = self.settings.smtp
        if smtp is None:
            raise ChannelError("no SMTP server configured (HPCPOLICY_SMTP_HOST)")
        try:
            message = email_message(alert, to, smtp.sender, self.settings.public_url)
        except ValueError as exc:
            raise ChannelError(f"mail to {to!r} not built: {exc}", permanent=True) from None
        send_mail(smtp, message, to)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def send_mail(smtp: SmtpSettings, message: EmailMessage, to: str) -> None:
    """Hand ``message`` to the SMTP server for ``to``; ChannelError (permanent for a 5xx refusal) if not."""
    try:
        connection = (smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=ssl.create_default_context())
                      if smtp.tls else smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout))  # fmt: skip
        with connection as server:
            if smtp.starttls:
                server.starttls(context=ssl.create_default_context())
            if smtp.user:
                server.login(smtp.user, smtp.password or "")
            server.send_message(message, from_addr=smtp.sender, to_addrs=[to])
    except smtplib.SMTPRecipientsRefused as exc:
        code, reply = next(iter(exc.recipients.values()), (0, b""))
        raise ChannelError(f"SMTP refused {to}: {code} {_reply(reply)}", permanent=500 <= code < 600) from None
    except smtplib.SMTPResponseException as exc:  # login, sender or data refused: the server's setup, retried
        raise ChannelError(f"SMTP {exc.smtp_code} {_reply(exc.smtp_error)}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise ChannelError(f"SMTP {smtp.host}:{smtp.port}: {type(exc).__name__}: {exc}") from None


def _reply(reply: bytes | str) -> str:
    return (reply.decode(errors="replace") if isinstance(reply, bytes) else reply)[:200]


def _without(text: str, url: str) -> str:
    return text.replace(url, "<webhook URL>")
