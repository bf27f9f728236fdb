"""The HTTP webhook sink: CloudEvents over HTTP in batched mode, one batch in flight, in ``seq`` order.

Each request is a JSON array of structured CloudEvents (``Content-Type: application/cloudevents-batch+json``)
of at most ``batch`` events; the next batch is sent only once the receiver answered 2xx for this one, so the
receiver sees events in order, and a batch it failed to take is sent again whole (redelivery of the same ids;
receivers deduplicate by ``id``). With a secret, ``X-Hpcpolicy-Signature: sha256=<hex>`` is the HMAC-SHA256
of the exact body, so the receiver can tell the events came from this service.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Sequence

import httpx
import orjson

from hpcpolicy.delivery.sink import SinkError, Stored
from hpcpolicy.ledger.events import Event

log = logging.getLogger("hpcpolicy.delivery.webhook")

CONTENT_TYPE = "application/cloudevents-batch+json"
SIGNATURE_HEADER = "X-Hpcpolicy-Signature"


def signature(secret: str, body: bytes) -> str:
    """The signature header's value for ``body``: what a receiver recomputes and compares."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSink:
    name = "webhook"

    def __init__(self, url: str, *, secret: str | None = None, batch: int = 100, timeout: float = 10.0):
        self.url, self.secret, self.batch, self.timeout = url, secret, batch, timeout
        self._client: httpx.AsyncClient | None = None

    async def open(self) -> Stored | None:
        await self.close()
        self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        return None  # a webhook cannot say what it holds: a crash before the cursor moved means redelivery

    async def deliver(self, events: Sequence[Event]) -> None:
        client = self._client
        if client is None:
            raise SinkError("webhook client not open")
        for start in range(0, len(events), self.batch):
            chunk = events[start : start + self.batch]
            body = orjson.dumps([event.cloudevent() for event in chunk])
            headers = {"Content-Type": CONTENT_TYPE}
            if self.secret is not None:
                headers[SIGNATURE_HEADER] = signature(self.secret, body)
            first, last = chunk[0].seq, chunk[-1].seq
            try:
                response = await client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                raise SinkError(f"webhook request for seq {first}..{last} failed: {exc!r}", start) from None
            if not response.is_success:
                raise SinkError(f"webhook answered {response.status_code} for seq {first}..{last}", start)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
