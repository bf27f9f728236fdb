"""The chargeback report's JSON as the OpenAPI document describes it, and the query values it takes.

The route writes the JSON with :func:`hpcpolicy.reports.formats.to_json` (a month of a large site is tens
of thousands of nodes: validating them through these models would cost more than the query); these
models only document that shape, and the API's schema tests hold the two together.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints
from pydantic_core import PydanticCustomError

from hpcpolicy.reports.period import day, month


def _valid(parse: Callable[[str], object]) -> Callable[[str], str]:
    """A validator that keeps ``text`` if ``parse`` takes it, else a 422 with ``parse``'s message."""

    def check(text: str) -> str:
        try:
            parse(text)
        except ValueError as exc:
            raise PydanticCustomError("period", "{problem}", {"problem": str(exc)}) from None
        return text

    return check


Month = Annotated[str, StringConstraints(min_length=1, max_length=7), AfterValidator(_valid(month))]
Day = Annotated[str, StringConstraints(min_length=1, max_length=10), AfterValidator(_valid(day))]


class AdjustedOut(BaseModel):
    """Adjustments, signed as budgets count them: grants, refunds, deposits negative; debits positive."""

    count: int | None = None
    cpu_hours: float
    gpu_hours: float
    cost: float


class TotalsOut(BaseModel):
    charges: int
    cpu_hours: float = Field(description="actual CPU-hours (before the policy's weights)")
    gpu_hours: float = Field(description="actual GPU-hours (before the policy's weights)")
    gpu_hours_by_type: dict[str, float] = Field(description="GPU-hours per GPU type; (none): no type recorded")
    cost: float = Field(description="cost as charged")
    adjustments: AdjustedOut
    net_cost: float


class UserOut(BaseModel):
    user: str
    totals: TotalsOut


class ProjectOut(BaseModel):
    project: str | None = Field(description="null: charges recorded without a project")
    totals: TotalsOut
    adjusted_here: AdjustedOut
    users: list[UserOut]


class TeamOut(BaseModel):
    team: str | None
    totals: TotalsOut
    adjusted_here: AdjustedOut
    projects: list[ProjectOut]


class OrgOut(BaseModel):
    org: str | None
    totals: TotalsOut
    adjusted_here: AdjustedOut
    teams: list[TeamOut]


class ElsewhereOut(BaseModel):
    scope: str
    adjustments: AdjustedOut


class ChargebackOut(BaseModel):
    """The chargeback report of a period: org → team → project → user with subtotals, and a grand total."""

    report: str
    period: str
    start: str
    end: str
    project: str | None
    generated_at: str
    notes: dict[str, str]
    gpu_types: list[str]
    totals: TotalsOut
    orgs: list[OrgOut]
    elsewhere: list[ElsewhereOut] = Field(description="adjustments on scopes outside the org tree (services)")
