"""The one request model every front door translates into (API, CLI, Slurm, Kubernetes, TES, traces).

Field names ``user_id``, ``roles``, ``partition``, ``gpus``, ``memory_gb``, ``cpu_hours`` and
``gpu_hours`` are those of the original service, which existing clients send. Resource fields are job
totals (all nodes together), as in Slurm's accounting (``AllocTRES``). Unknown fields are refused: a
misspelt ``gpu`` silently read as zero GPUs would under-charge. Every field is bounded
(:mod:`hpcpolicy.engine.limits`): a request the ledger could not store, or whose estimate would not be
finite, is refused here with the field's name.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from hpcpolicy.engine.limits import Cpus, Gpus, Hours, Ident, MemoryGb, Nodes, Walltime

#: More roles than any identity provider hands out; a cap keeps a body from carrying a million.
MAX_ROLES = 256
#: The same cap for groups (the Slurm hook passes only the groups the policy names).
MAX_GROUPS = 256
#: The ledger's ``gpu_type`` column.
GpuType = Annotated[Ident, Field(max_length=64)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    user_id: Ident
    roles: Annotated[tuple[Ident, ...], Field(max_length=MAX_ROLES)] = ()
    groups: Annotated[tuple[Ident, ...], Field(max_length=MAX_GROUPS)] = ()
    """The user's Unix or directory groups, asserted like roles: they add the policy's ``groups.<g>`` roles
    and (v2) project memberships to those of ``users.<u>.groups``."""
    project: Ident | None = None
    cluster: Ident | None = None
    partition: Ident | None = None
    cpus: Cpus = 1
    gpus: Gpus = 0
    gpu_type: GpuType | None = None
    memory_gb: MemoryGb = 0.0
    nodes: Nodes = 1
    walltime_hours: Walltime | None = None
    cpu_hours: Hours | None = None
    """Declared CPU-hours: may raise the estimate above cpus × walltime, never lower it."""
    gpu_hours: Hours | None = None
    """Declared GPU-hours: may raise the estimate above gpus × walltime, never lower it."""
    qos: Ident | None = None
    """A quality of service defined on the route's cluster (Slurm ``--qos``): other limits, for some callers."""
    service: Ident | None = None
    """The web application or workflow engine sending the request (policy ``services``: its concurrent runs)."""
