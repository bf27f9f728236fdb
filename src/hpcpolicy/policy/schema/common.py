"""Building blocks of every policy model: the frozen, strict base class and the constrained scalars.

``since`` marks a field that only ``apiVersion: hpcpolicy/v2`` files may set (see :mod:`.versions`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

#: Finite and far above any real budget, so that sums of limits, charges and estimates stay finite.
NonNeg = Annotated[float, Field(ge=0, le=1e15)]
#: A rate must be finite: 0 hours × .inf is NaN, and a NaN cost passes every cost quota and guard. Bounded
#: so that the largest job (engine.limits) times the highest rate is still a finite cost.
Rate = Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)]
NonNegInt = Annotated[int, Field(ge=0)]
PosInt = Annotated[int, Field(gt=0)]
Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")]

V2: dict[str, Any] = {"since": "hpcpolicy/v2"}
"""``Field(json_schema_extra=V2)``: the field is part of the v2 language; a v1 file that sets it is refused."""


class Model(BaseModel):
    """Base: unknown keys are errors (a typo must not silently disable a limit), values are immutable,
    numbers are finite (``.inf`` is not "unlimited": leave the limit out; a NaN passes every comparison)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
