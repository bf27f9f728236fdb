"""The NATS JetStream sink: each event's CloudEvents JSON on ``hpcpolicy.events.<type>``, pipelined, in order.

A batch is published on one connection without waiting (each message asks for its acknowledgement on its own
reply subject), then the acknowledgements are read in order: the sink answers for the prefix JetStream
stored. Thousands of events are in flight per round trip instead of one.

Order in the stream is enforced by the server, not hoped for: every message carries
``Nats-Expected-Last-Sequence`` (the stream's last sequence plus its place in the batch), so a message whose
predecessor was lost (a connection cut mid-batch, a server restarted) is refused instead of stored out of
order, and the worker sends the rest again from the first refused one. ``Nats-Msg-Id`` is the event id:
JetStream recognises a redelivered event within its duplicate window and acknowledges it without storing it
twice (it checks that before the expected sequence). The connection never reconnects by itself — a client
that buffered messages during a reconnect would send them ahead of lost ones — the worker reopens instead,
and :meth:`JetStreamSink.open` reads the stream's last message (``Hpcpolicy-Seq`` and ``Nats-Msg-Id``
headers) so what a previous holder delivered but never recorded is not sent again.

The stream's subjects are this service's: another publisher on them would make the expected sequence fail
(and delivery retry) rather than interleave.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import nats
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.errors import NotFoundError

from hpcpolicy.delivery.sink import SinkError, Stored
from hpcpolicy.ledger.events import Event

log = logging.getLogger("hpcpolicy.delivery.nats")

SUBJECTS = "hpcpolicy.events"
SEQ_HEADER = "Hpcpolicy-Seq"
WRONG_LAST_SEQUENCE = 10071


def subject(event_type: str) -> str:
    """``hpcpolicy.decision.made`` → ``hpcpolicy.events.decision.made``."""
    return f"{SUBJECTS}.{event_type.removeprefix('hpcpolicy.')}"


class JetStreamSink:
    name = "nats"

    def __init__(self, url: str, stream: str = "HPCPOLICY_EVENTS", *, ack_timeout: float = 5.0):
        """``url``: one server or several, comma-separated (``nats://`` or ``tls://``)."""
        self.servers = [part.strip() for part in url.split(",") if part.strip()]
        self.stream = stream
        self.ack_timeout = ack_timeout
        self._nc: Client | None = None
        self._inbox = ""
        self._acks: dict[str, asyncio.Future[bytes]] = {}
        self._last = 0  # the stream's last sequence, as far as this connection knows

    async def open(self) -> Stored | None:
        await self.close()
        # Each server tried twice, 0.2 s apart, then the worker's backoff decides (nats-py's own retries of an
        # unreachable server would wait 2 s sixty times).
        nc = await nats.connect(servers=self.servers, allow_reconnect=False, connect_timeout=2,
                                max_reconnect_attempts=1, reconnect_time_wait=0.2, error_cb=_quiet,
                                closed_cb=self._fail_pending, name="hpcpolicy-audit")  # fmt: skip
        self._nc = nc
        js = nc.jetstream(timeout=self.ack_timeout)
        try:
            info = await js.stream_info(self.stream)
        except NotFoundError:
            info = await js.add_stream(name=self.stream, subjects=[f"{SUBJECTS}.>"])
            log.info("created JetStream stream %s (subjects %s.>)", self.stream, SUBJECTS)
        self._last = info.state.last_seq
        self._inbox = nc.new_inbox()
        await nc.subscribe(f"{self._inbox}.*", cb=self._on_ack)
        if not self._last:
            return None
        try:
            last = await js.get_msg(self.stream, seq=self._last)
        except NotFoundError:  # deleted: nothing to learn
            return None
        headers = last.headers or {}
        if SEQ_HEADER not in headers or "Nats-Msg-Id" not in headers:
            return None
        return Stored(int(headers[SEQ_HEADER]), headers["Nats-Msg-Id"])

    async def deliver(self, events: Sequence[Event]) -> None:
        nc = self._nc
        if nc is None or not nc.is_connected:
            raise SinkError("not connected to NATS")
        loop = asyncio.get_running_loop()
        waiting: list[asyncio.Future[bytes]] = []
        try:
            for place, event in enumerate(events):
                token = str(event.seq)
                self._acks[token] = ack = loop.create_future()
                waiting.append(ack)
                headers = {"Nats-Msg-Id": event.event_id, "Nats-Expected-Last-Sequence": str(self._last + place),
                           SEQ_HEADER: token}  # fmt: skip
                await nc.publish(subject(event.type), orjson.dumps(event.cloudevent()), f"{self._inbox}.{token}",
                                 headers)  # fmt: skip
            await self._acknowledged(events, waiting)
        finally:
            for event, ack in zip(events, waiting, strict=False):
                self._acks.pop(str(event.seq), None)
                if not ack.done():
                    ack.cancel()
                elif not ack.cancelled():
                    ack.exception()  # looked at: asyncio need not report it as never retrieved

    async def _acknowledged(self, events: Sequence[Event], waiting: list[asyncio.Future[bytes]]) -> None:
        deadline = time.monotonic() + self.ack_timeout
        for acked, (event, ack) in enumerate(zip(events, waiting, strict=True)):
            try:
                reply = await asyncio.wait_for(ack, max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise SinkError(f"no acknowledgement of seq {event.seq} within {self.ack_timeout} s", acked) from None
            except ConnectionError as exc:
                raise SinkError(f"NATS connection lost before seq {event.seq} was acknowledged: {exc}", acked) from None
            answer = orjson.loads(reply) if reply else {"error": {"description": "no stream answered"}}
            if error := answer.get("error"):
                raise SinkError(f"JetStream refused seq {event.seq}: {error.get('description')} "
                                f"(code {error.get('err_code')})", acked)  # fmt: skip
            if not answer.get("duplicate"):
                self._last += 1

    async def _on_ack(self, msg: Msg) -> None:
        ack = self._acks.get(msg.subject.rpartition(".")[2])
        if ack is not None and not ack.done():
            ack.set_result(msg.data)

    async def _fail_pending(self) -> None:
        for ack in self._acks.values():
            if not ack.done():
                ack.set_exception(ConnectionError("connection closed"))

    async def close(self) -> None:
        nc, self._nc = self._nc, None
        if nc is not None and not nc.is_closed:
            try:
                await asyncio.wait_for(nc.close(), 2)
            except Exception as exc:  # closing a dead connection: nothing left to save
                log.debug("closing the NATS connection: %s", exc)
        await self._fail_pending()


async def _quiet(exc: Exception) -> None:
    """nats-py logs every connection error at ERROR by default; the worker logs each failed attempt once."""
    log.debug("NATS: %s", exc)
