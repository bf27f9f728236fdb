"""Telling a caller its held request's outcome at the URL it gave: signed, retried, at least once.

The body is JSON (``decision_id``, ``status``, and the decision when there is one). It is signed like the
audit webhook: ``X-Hpcpolicy-Signature: sha256=<HMAC-SHA256(secret, "<timestamp>." + body)>`` with the
Unix time in ``X-Hpcpolicy-Timestamp``, so a receiver can check the sender and refuse stale replays. A
2xx answer is delivery; anything else is retried with doubling delays (2 s … 10 min) up to
:data:`MAX_ATTEMPTS` times. The due time lives in the queue table, so a restart or a new dispatcher
replica carries on where the last one stopped. Only URLs under an allowed prefix are accepted at all
(``HPCPOLICY_QUEUE_CALLBACK_URLS``): the service will not be made to call arbitrary hosts.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson

from hpcpolicy.ledger.base import Ledger
from hpcpolicy.ledger.queue import QueuedRequest

MAX_ATTEMPTS = 12
TIMEOUT_SECONDS = 5.0


def outcome_body(entry: QueuedRequest) -> dict[str, Any]:
    return {"decision_id": entry.id, "status": entry.state.value, "user_id": entry.user_id,
            "resolved_at": entry.resolved_at, "decision": entry.decision}  # fmt: skip


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(2.0**attempts, 600.0))


def deliver_due(ledger: Ledger, secret: bytes | None, now: datetime, client: httpx.Client) -> int:
    """Send every outcome whose callback is due; record each result. Returns how many were delivered."""
    with ledger.reading() as reader:  # a snapshot: on SQLite no write lock held (admissions wait for none)
        due = reader.callbacks_due(now)
    delivered = 0
    for entry in due:
        ok = _send(entry, secret, now, client)
        attempts = entry.callback_attempts + (0 if ok else 1)
        following = None if ok or attempts >= MAX_ATTEMPTS else now + retry_delay(attempts)
        with ledger.session() as tx:
            tx.set_callback(entry.id, following, attempts)
        delivered += ok
    return delivered


def _send(entry: QueuedRequest, secret: bytes | None, now: datetime, client: httpx.Client) -> bool:
    if entry.callback_url is None:
        return True
    body = orjson.dumps(outcome_body(entry), option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC)
    timestamp = int(now.timestamp())
    headers = {"content-type": "application/json", "x-hpcpolicy-timestamp": str(timestamp)}
    if secret is not None:
        headers["x-hpcpolicy-signature"] = signature(secret, timestamp, body)
    try:
        response = client.post(entry.callback_url, content=body, headers=headers, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError:
        return False
    return response.is_success
