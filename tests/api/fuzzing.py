"""What the schemathesis run (test_fuzz.py) needs besides schemathesis: a server's error behaviour, a fake
NSS, the hostile values it mixes into generated input, and real jobs for the routes that name one.

Random generation alone rarely hits the values that break a service: a NUL inside an id, a string one
character longer than a column, a float at the edge of overflow, an integer past 64 bits. Every
parameter and body field (and the fields of nested objects such as a Slurm job) is bound to
:data:`HOSTILE`; schemathesis sends an entry where it fits the field's schema in positive cases and
where it does not in negative ones. Likewise a random ``{ref}`` almost never names a job, so the
lifecycle routes would only ever answer 404: :func:`on_real_records` points most positive cases at a
job (or decision) reserved just before.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator
from typing import Any

from schemathesis import Case, GenerationMode
from schemathesis.python import asgi
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hpcpolicy.adapters.slurm.identity import UnixUser, UnknownUser

log = logging.getLogger("tests.fuzz")
Schema = dict[str, Any]

HOSTILE: list[str | int | float] = [
    "a\x00b",  # PostgreSQL text cannot hold NUL
    "\x00",
    "x" * 191,  # the id columns' length, then one more, then the API's limit for identifiers, then past it
    "x" * 192,
    "x" * 256,
    "x" * 257,
    "é" * 191,  # 191 characters, 382 bytes
    " ",
    1e308,  # finite, but sums and products of a few overflow to inf
    -1e308,
    1.7976931348623157e308,
    5e-324,
    2**63,
    2**64,
    10**400,  # valid JSON, no float can hold it
]
PROBABILITY = 0.2


def hostile_config(spec: Schema) -> Schema:
    """Schemathesis configuration binding every parameter and body field of ``spec`` to :data:`HOSTILE`."""
    binding = {"dictionary": "hostile", "probability": PROBABILITY}
    return {
        "dictionaries": {"hostile": {"values": HOSTILE}},
        "parameters": {key: binding for key in sorted(set(_field_keys(spec)))},
    }


def _field_keys(spec: Schema) -> Iterator[str]:
    for item in spec["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                yield f"{parameter['in']}.{parameter['name']}"
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                yield from _property_keys(spec, content["application/json"]["schema"], "body", depth=2)


def _property_keys(spec: Schema, schema: Schema, prefix: str, depth: int) -> Iterator[str]:
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    for name, prop in schema.get("properties", {}).items():
        if "$ref" in prop and depth > 1:
            yield from _property_keys(spec, prop, f"{prefix}.{name}", depth - 1)
        else:
            yield f"{prefix}.{name}"


class LikeAServer:
    """What uvicorn does with an exception raised after the response started: log it, keep the answer.

    Starlette's error middleware sends the 500 problem (``problems`` logs the traceback, which pytest shows
    with the failure) and then re-raises; a real server swallows that, so the client (and schemathesis'
    ``not_a_server_error``) sees the 500.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            if not started:
                raise
            log.debug("exception after the response started; the handler logged it")


def nss(uid: int | None, user_name: str | None) -> UnixUser:
    """A host whose accounts are uids 0–65535 (``u<uid>``, group ``users``); any other uid is unknown."""
    if uid is not None and 0 <= uid < 2**16:
        return UnixUser(f"u{uid}", ("users",))
    if uid is None and user_name and user_name.isalnum() and len(user_name) <= 32:
        return UnixUser(user_name, ("users",))
    raise UnknownUser(f"uid {uid} is unknown on the policy service host")


def without_credentials(case: Case) -> dict[str, str]:
    """Take the credential headers schemathesis generated out of ``case`` (both at once would be a 401
    whatever the key) and return them, for a call that is meant to be refused."""
    headers = case.headers if case.headers is not None else {}
    taken = {name: headers.pop(name) for name in list(headers) if name.lower() in {"authorization", "x-api-key"}}
    return {name: str(value) for name, value in taken.items()}


JOB = {"user_id": "alice", "walltime_hours": 1, "reserve": True}  # admitted by the example policy, with a lien
RECORD_PARAMETERS = ("ref", "decision_id")


def on_real_records(case: Case, app: ASGIApp, headers: dict[str, str] | None = None) -> None:
    """Point three in four positive cases of a route naming a job or decision at one reserved just now.

    Chosen from the generated value (CRC32), so the choice is as reproducible as the example itself.
    """
    names = [n for n in RECORD_PARAMETERS if n in (case.path_parameters or {})]
    if not names or case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE:
        return
    name = names[0]
    if zlib.crc32(str(case.path_parameters[name]).encode()) % 4 == 0:
        return
    with asgi.get_client(app) as client:
        reply = client.post("/v1/decisions", json=JOB, headers=headers or {})
    lien = reply.json().get("lien_id") if reply.status_code == 200 else None
    assert lien, f"earlier calls left the ledger refusing a 1 CPU-hour job for alice: {reply.status_code} {reply.text}"
    case.path_parameters[name] = reply.json()["decision_id"]
