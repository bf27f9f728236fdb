"""What a policy test case expects of a decision, and the problems found when the decision differs.

Every part of a decision can be stated; what is not stated is not checked::

    expect:
      allow: false
      codes: [quota.cpu_hours_exceeded]                  # the set of violation codes
      violations:                                        # the violations, one to one, any keys of each
        - {code: quota.cpu_hours_exceeded, scope: project:wgs-cohort, limit: 200000, available: 1000}
      route: {cluster: helix, partition: cpu, reason: named}  # (``partition:``/``cluster:`` at the top: the same)
      estimate: {cpu_hours: 3072, cost: 30.72}
      remaining: {"project:wgs-cohort": {cpu_hours: -2072}}
      warnings: [quota.warn_threshold]                   # codes (a set), or the form of ``violations``

Numbers (in ``violations``, ``warnings``, ``estimate``, ``remaining``) match when equal to about six
significant digits: :data:`REL_TOL` of the larger, or :data:`ABS_TOL` near zero, so that ``9.216`` matches
the ``9.216000000000001`` that floating point gives. Unknown keys are errors, like everywhere in a case file.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from hpcpolicy.engine.decision import Bound, Decision, Violation, num

#: Relative tolerance of every number compared (six significant digits).
REL_TOL = 1e-6
#: Absolute tolerance, for numbers near zero (a balance of exactly 0 against -1e-12).
ABS_TOL = 1e-9

Number = Annotated[float, Field(allow_inf_nan=False)]
Metric = Literal["cpu_hours", "gpu_hours", "cost", "jobs", "gpus"]


class Doc(BaseModel):
    """A part of a case file: unknown keys are errors (a misspelt expectation would check nothing)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def same(want: object, got: object) -> bool:
    """Equal, numbers within the tolerance (a bool is not a number here)."""
    if isinstance(want, bool) or isinstance(got, bool):
        return want == got
    if isinstance(want, int | float) and isinstance(got, int | float):
        return math.isclose(want, got, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    return want == got


class ViolationExpect(Doc):
    """A violation (or warning) as expected: the keys given must match; the others may be anything."""

    code: str | None = None
    scope: str | None = None
    limit: Number | str | None = None
    requested: Number | str | None = None
    available: Number | None = None

    def stated(self) -> list[tuple[str, Bound]]:
        return [(key, value) for key in ("code", "scope", "limit", "requested", "available")
                if (value := getattr(self, key)) is not None]  # fmt: skip

    def matches(self, v: Violation) -> bool:
        return all(same(value, getattr(v, key)) for key, value in self.stated())

    def __str__(self) -> str:
        shown = (f"{key}: {num(v) if isinstance(v, float) else v}" for key, v in self.stated())
        return "{" + ", ".join(shown) + "}"


class RouteExpect(Doc):
    cluster: str | None = None
    partition: str | None = None
    reason: str | None = None
    """The route's reason exactly (``named``, ``cheapest of 4 candidates; cheaper rejected: ...``)."""


class EstimateExpect(Doc):
    cpu_hours: Number | None = None
    gpu_hours: Number | None = None
    cost: Number | None = None
    walltime_hours: Number | None = None


class Expectation(Doc):
    allow: bool
    codes: list[str] | None = None
    violations: list[ViolationExpect] | None = None
    route: RouteExpect | None = None
    partition: str | None = None
    cluster: str | None = None
    estimate: EstimateExpect | None = None
    remaining: dict[str, dict[Metric, Number]] | None = None
    warnings: list[str] | list[ViolationExpect] | None = None


def problems(expect: Expectation, d: Decision) -> list[str]:
    """Each way ``d`` differs from ``expect``, as a line for the admin; empty when it is as expected."""
    found: list[str] = []
    if d.allow != expect.allow:
        found.append(f"expected allow={expect.allow}, got allow={d.allow}")
    if expect.codes is not None and set(expect.codes) != set(d.codes):
        found.append(f"expected codes {sorted(set(expect.codes))}, got {sorted(set(d.codes))}")
    if expect.violations is not None:
        found += _one_to_one("violations", expect.violations, d.violations)
    found += _route(expect, d)
    if expect.estimate is not None:
        for key, want in expect.estimate.model_dump(exclude_none=True).items():
            if not same(want, got := getattr(d.estimate, key)):
                found.append(f"expected estimate.{key} {num(want)}, got {num(got)}")
    for quota_id, metrics in (expect.remaining or {}).items():
        found += _remaining(quota_id, metrics, d.remaining)
    if expect.warnings is not None:
        found += _warnings(expect.warnings, d.warnings)
    return found


def _route(expect: Expectation, d: Decision) -> list[str]:
    wanted = [("partition", expect.partition), ("cluster", expect.cluster)]
    if expect.route is not None:
        wanted += [(f"route.{key}", getattr(expect.route, key)) for key in ("cluster", "partition", "reason")]
    found = []
    for label, want in wanted:
        got = getattr(d.route, label.removeprefix("route.")) if d.route else None
        if want is not None and want != got:
            found.append(f"expected {label} {want}, got {got}")
    return found


def _remaining(quota_id: str, metrics: dict[Metric, float], remaining: dict[str, dict[str, float]]) -> list[str]:
    balances = remaining.get(quota_id)
    if balances is None:
        on_path = ", ".join(remaining) or "none"
        return [f"expected remaining of {quota_id}, but it is not on the decision's path (quotas: {on_path})"]
    found = []
    for metric, want in metrics.items():
        got = balances.get(metric)
        if got is None:
            bounded = ", ".join(balances) or "nothing"
            found.append(f"expected remaining {quota_id} {metric} {num(want)}, but the quota bounds {bounded}")
        elif not same(want, got):
            found.append(f"expected remaining {quota_id} {metric} {num(want)}, got {num(got)}")
    return found


def _warnings(expect: list[str] | list[ViolationExpect], actual: Sequence[Violation]) -> list[str]:
    if expect and all(isinstance(w, ViolationExpect) for w in expect):
        return _one_to_one("warnings", [w for w in expect if isinstance(w, ViolationExpect)], actual)
    want, got = {str(w) for w in expect}, {str(w.code) for w in actual}
    return [] if want == got else [f"expected warning codes {sorted(want)}, got {sorted(got)}"]


def _one_to_one(what: str, expect: Sequence[ViolationExpect], actual: Sequence[Violation]) -> list[str]:
    """Pair each expected item with a distinct actual one it matches; name those left on either side."""
    pairs = matching(len(expect), len(actual), lambda i, j: expect[i].matches(actual[j]))
    one = what.removesuffix("s")
    found = [f"expected {what}[{i}] {item}: no actual {one} matches" for i, item in enumerate(expect) if i not in pairs]
    taken = set(pairs.values())
    found += [f"unexpected {one} {show(v)}" for j, v in enumerate(actual) if j not in taken]
    return found


def matching(n: int, m: int, fits: Callable[[int, int], bool]) -> dict[int, int]:
    """A largest pairing of ``n`` expected with ``m`` actual items (``fits(i, j)``): expected → actual.

    Augmenting paths (Kuhn's algorithm), so that ``[{code: A}, {code: A, scope: x}]`` pairs with
    ``[A at x, A at y]`` in whichever order both are listed; lists are a handful long.
    """
    owner: dict[int, int] = {}  # actual → expected

    def place(i: int, seen: set[int]) -> bool:
        for j in range(m):
            if j not in seen and fits(i, j):
                seen.add(j)
                if j not in owner or place(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    for i in range(n):
        place(i, set())
    return {i: j for j, i in owner.items()}


def show(v: Violation) -> str:
    """``code scope (limit 8, requested 16, available 0)``: a violation or warning on one line."""
    numbers = ", ".join(
        f"{label} {num(value) if isinstance(value, int | float) else value}"
        for label, value in (("limit", v.limit), ("requested", v.requested), ("available", v.available))
        if value is not None
    )
    return f"{v.code} {v.scope}" + (f" ({numbers})" if numbers else "")
