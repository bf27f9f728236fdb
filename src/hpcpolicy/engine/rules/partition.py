"""Partition-level rules: access lists, the QOS's access and per-job caps, checked against one candidate.

These are the rules routing uses to decide whether a partition "fits": they depend only on the request,
the caller's roles and project, and the partition, never on usage. Who may use it is
:mod:`.access`; what a job may ask of it is :mod:`.caps`.
"""

from __future__ import annotations

from hpcpolicy.engine.decision import Violation
from hpcpolicy.engine.partitionref import PartitionRef
from hpcpolicy.engine.request import Request
from hpcpolicy.engine.rules.access import access_violations
from hpcpolicy.engine.rules.caps import cap_violations


def partition_violations(
    request: Request, part: PartitionRef, roles: frozenset[str], project: str | None, walltime: float
) -> list[Violation]:
    scope = f"partition:{part.name}"
    found = access_violations(part.access, roles, project, scope)
    if part.qos_gate is not None:
        found += part.qos_gate.check(roles, project, f"qos:{part.qos_name}")
    cap_violations(request, part, walltime, scope, found)
    return found
