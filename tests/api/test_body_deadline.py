"""The body guard of api/limits.py at the ASGI level, where time and the client's pace can be scripted:
a stalled or trickled body is 408, a finished body's later reads are not timed, and whatever an app
does with a refused body (answer anyway, swallow the error), the client gets the refusal."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import Message, Receive, Scope, Send

from hpcpolicy.api.limits import BodyLimits, BodyRefused, LimitBodies

DEADLINE = 0.2
Client = Callable[[], Awaitable[Message]]


def scope(*headers: tuple[bytes, bytes]) -> Scope:
    return {"type": "http", "method": "POST", "path": "/v1/decisions", "headers": list(headers)}


async def echo_length(scope: Scope, receive: Receive, send: Send) -> None:
    body = await Request(scope, receive).body()
    await PlainTextResponse(str(len(body)))(scope, receive, send)


def run(app: Callable[[Scope, Receive, Send], Awaitable[None]], client: Client, *headers: tuple[bytes, bytes],
        max_bytes: int = 1000) -> tuple[int, dict[bytes, bytes], bytes]:
    """The status, headers and body the client gets from ``app`` behind the guard."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    guarded = LimitBodies(app, BodyLimits(max_bytes=max_bytes, timeout=DEADLINE))
    asyncio.run(guarded(scope(*headers), client, send))
    start, *bodies = sent
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in bodies)


def stalls_after(first: bytes) -> Client:
    calls = 0

    async def receive() -> Message:
        nonlocal calls
        calls += 1
        if calls == 1:
            return {"type": "http.request", "body": first, "more_body": True}
        await asyncio.Event().wait()  # the client never sends the rest
        raise AssertionError("unreachable")

    return receive


def trickles(every: float, count: int) -> Client:
    """A byte every ``every`` seconds, ``count`` bytes in all."""
    sent = 0

    async def receive() -> Message:
        nonlocal sent
        await asyncio.sleep(every)
        sent += 1
        return {"type": "http.request", "body": b" ", "more_body": sent < count}

    return receive


def test_a_stalled_body_is_408_problem_details_with_connection_close() -> None:
    status, headers, body = run(echo_length, stalls_after(b"{"), (b"content-length", b"100"))
    assert status == 408 and headers[b"connection"] == b"close"
    assert headers[b"content-type"] == b"application/problem+json"
    assert json.loads(body)["detail"] == f"the request body did not arrive within {DEADLINE:g} seconds"


def test_the_deadline_is_for_the_whole_body_not_for_each_read() -> None:
    status, _, _ = run(echo_length, trickles(DEADLINE / 10, 30), (b"content-length", b"30"))
    assert status == 408


def test_reads_after_the_body_is_complete_are_not_timed() -> None:
    """A disconnect listener reads on after the body: that wait belongs to the app, not to the client."""
    messages = iter([{"type": "http.request", "body": b"{}", "more_body": False}])

    async def receive() -> Message:
        message = next(messages, None)
        if message is None:
            await asyncio.sleep(DEADLINE * 2)
            return {"type": "http.disconnect"}
        return message

    async def reads_until_disconnect(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        await PlainTextResponse("done")(scope, receive, send)

    assert run(reads_until_disconnect, receive, (b"content-length", b"2"))[0] == 200


def test_an_app_that_answers_a_refused_body_is_overruled() -> None:
    async def answers_anyway(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await Request(scope, receive).body()
        except BodyRefused:
            await PlainTextResponse("fine", status_code=200)(scope, receive, send)

    status, headers, body = run(answers_anyway, trickles(0, 100), (b"transfer-encoding", b"chunked"), max_bytes=10)
    assert status == 413 and headers[b"connection"] == b"close" and json.loads(body)["limit"] == 10


def test_an_app_that_swallows_the_refusal_silently_still_answers_the_client() -> None:
    async def swallows(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await Request(scope, receive).body()
        except BodyRefused:
            return

    status, _, body = run(swallows, stalls_after(b"{"), (b"content-length", b"100"))
    assert status == 408 and json.loads(body)["status"] == 408


def test_a_chunked_body_within_the_limit_is_passed_on_whole() -> None:
    parts = iter([b"a" * 400, b"b" * 400, b"c" * 200])

    async def receive() -> Message:
        chunk = next(parts)
        return {"type": "http.request", "body": chunk, "more_body": chunk[:1] != b"c"}

    assert run(echo_length, receive, (b"transfer-encoding", b"chunked"))[2] == b"1000"
