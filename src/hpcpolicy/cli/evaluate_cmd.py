"""``hpcpolicy evaluate``: one decision offline, from a request file and/or flags."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from hpcpolicy.cli import render
from hpcpolicy.cli.common import EXIT_DENIED, out, read_document, refuse_problems, snapshot_of, validate
from hpcpolicy.engine import EMPTY_USAGE, Request
from hpcpolicy.engine import evaluate as evaluate_request
from hpcpolicy.engine.windows import as_utc
from hpcpolicy.policy.cases import UsageDoc, usage_problems


def evaluate(
    policy: Annotated[Path | None, typer.Option(help="Policy file (default: the packaged example policy).")] = None,
    request: Annotated[Path | None, typer.Option(help="Request as JSON or YAML; flags below override it.")] = None,
    usage: Annotated[Path | None, typer.Option(help="Usage snapshot (JSON/YAML: consumed, active).")] = None,
    user: Annotated[str | None, typer.Option("--user", help="user_id")] = None,
    role: Annotated[list[str] | None, typer.Option("--role", help="A role of the caller (repeatable).")] = None,
    group: Annotated[list[str] | None, typer.Option("--group", help="A group of the user (repeatable).")] = None,
    project: Annotated[str | None, typer.Option()] = None,
    cluster: Annotated[str | None, typer.Option()] = None,
    partition: Annotated[str | None, typer.Option()] = None,
    qos: Annotated[str | None, typer.Option(help="A QOS defined on the route's cluster.")] = None,
    cpus: Annotated[int | None, typer.Option()] = None,
    gpus: Annotated[int | None, typer.Option()] = None,
    gpu_type: Annotated[str | None, typer.Option()] = None,
    memory_gb: Annotated[float | None, typer.Option()] = None,
    nodes: Annotated[int | None, typer.Option()] = None,
    walltime_hours: Annotated[float | None, typer.Option()] = None,
    cpu_hours: Annotated[float | None, typer.Option()] = None,
    gpu_hours: Annotated[float | None, typer.Option()] = None,
    now: Annotated[datetime | None, typer.Option(help="Decide as of this time (default: now, UTC).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
    fail_on_deny: Annotated[bool, typer.Option(help="Exit 3 when the decision is a denial.")] = False,
) -> None:
    """Evaluate one request against a policy and print the decision."""
    body: dict[str, Any] = {}
    if request is not None:
        loaded = read_document(request, "request")
        body = loaded if isinstance(loaded, dict) else {"(document)": loaded}
    flags = {
        "user_id": user,
        "roles": role or None,
        "groups": group or None,
        "project": project,
        "cluster": cluster,
        "partition": partition,
        "qos": qos,
        "cpus": cpus,
        "gpus": gpus,
        "gpu_type": gpu_type,
        "memory_gb": memory_gb,
        "nodes": nodes,
        "walltime_hours": walltime_hours,
        "cpu_hours": cpu_hours,
        "gpu_hours": gpu_hours,
    }
    body.update({k: v for k, v in flags.items() if v is not None})
    req = validate(Request, body, str(request) if request else "request")
    snapshot = EMPTY_USAGE
    doc = validate(UsageDoc, read_document(usage, "usage"), str(usage)) if usage else None
    snap = snapshot_of(policy)
    if doc is not None:
        refuse_problems(usage_problems(doc, snap), str(usage))
        snapshot = doc.to_snapshot()
    decision = evaluate_request(req, snap, snapshot, now=as_utc(now) if now else datetime.now(UTC))
    if as_json:
        out.print_json(json.dumps(decision.to_dict()))
    else:
        render.decision(out, decision)
    if fail_on_deny and not decision.allow:
        raise typer.Exit(EXIT_DENIED)
