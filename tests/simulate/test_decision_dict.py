"""A decision read back from its JSON form (the service governor's path) is the decision, route reason included."""

from __future__ import annotations

from hpcpolicy.engine import PolicySnapshot, Route
from hpcpolicy.simulate.governor import decision_from_dict
from tests.builders import decide


def test_a_decision_round_trips_through_its_dict(example_snap: PolicySnapshot) -> None:
    for fields in ({"user_id": "alice", "cpus": 4, "memory_gb": 300}, {"user_id": "bob", "gpus": 64}):
        decision = decide(example_snap, **fields)
        assert decision_from_dict(decision.to_dict()) == decision
    routed = decide(example_snap, user_id="alice", cpus=4, memory_gb=300)
    assert routed.route is not None and routed.route.reason


def test_a_route_recorded_before_reasons_reads_with_an_empty_one(example_snap: PolicySnapshot) -> None:
    body = decide(example_snap, user_id="alice", partition="cpu").to_dict()
    body["route"] = {"cluster": "helix", "partition": "cpu"}
    assert decision_from_dict(body).route == Route("helix", "cpu", "")
