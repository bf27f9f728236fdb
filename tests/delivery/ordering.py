"""What "at least once, in order, nothing lost" means, as one check over what a sink received."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hpcpolicy.ledger.sql.audit import sealed_events
from hpcpolicy.ledger.sql.ledger import SqlLedger


def assert_delivered_in_order(received: Iterable[dict[str, Any]], ledger: SqlLedger) -> int:
    """``received`` (CloudEvents, in arrival order) holds every sealed event of ``ledger``, each first arriving
    after all events before it; anything else is a redelivery of an event already received, with its id.
    Returns how many redeliveries there were."""
    expected = {event.seq: event for event in sealed_events(ledger)}
    assert expected, "nothing sealed"
    seen: dict[int, str] = {}
    redelivered = 0
    for cloudevent in received:
        seq = cloudevent["hpcpolicyseq"]
        event = expected[seq]
        assert (cloudevent["id"], cloudevent["type"], cloudevent["hpcpolicyhash"]) == (event.event_id, event.type,
                                                                                        event.hash)  # fmt: skip
        if seq in seen:
            redelivered += 1
            continue
        assert seq == len(seen) + 1, f"event {seq} arrived before event {len(seen) + 1}"
        seen[seq] = cloudevent["id"]
    assert len(seen) == len(expected), f"{len(expected) - len(seen)} event(s) never arrived"
    return redelivered
