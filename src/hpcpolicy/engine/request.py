"""The one request model every front door translates into (API, CLI, Slurm, Kubernetes, TES, traces).

Field names ``user_id``, ``roles``, ``partition``, ``gpus``, ``memory_gb``, ``cpu_hours`` and
``gpu_hours`` are those of the original service, which existing clients send. Resource fields are job
totals (all nodes together), as in Slurm's accounting (``AllocTRES``). Unknown fields are refused: a
misspelt ``gpu`` silently read as zero GPUs would under-charge.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Ident = Annotated[str, Field(min_length=1, max_length=256)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: Ident
    roles: tuple[Ident, ...] = ()
    project: Ident | None = None
    cluster: Ident | None = None
    partition: Ident | None = None
    cpus: Annotated[int, Field(ge=1)] = 1
    gpus: Annotated[int, Field(ge=0)] = 0
    gpu_type: Ident | None = None
    memory_gb: Annotated[float, Field(ge=0)] = 0.0
    nodes: Annotated[int, Field(ge=1)] = 1
    walltime_hours: Annotated[float, Field(gt=0)] | None = None
    cpu_hours: Annotated[float, Field(ge=0)] | None = None
    gpu_hours: Annotated[float, Field(ge=0)] | None = None
