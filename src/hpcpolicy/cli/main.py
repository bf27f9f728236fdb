"""Entry point of the ``hpcpolicy`` console script: one Typer app, one module per command group."""

from __future__ import annotations

import typer

from hpcpolicy import __version__
from hpcpolicy.cli import (
    alerts_cmd,
    audit_cmd,
    evaluate_cmd,
    keys_cmd,
    policy_cmd,
    queue_cmd,
    service_cmds,
    simulate_cmd,
    slurm_cmd,
)

app = typer.Typer(
    name="hpcpolicy",
    help="Compute governance for shared HPC and AI clusters: may this job run here, now, and at whose expense?",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(policy_cmd.app, name="policy")
app.command("evaluate")(evaluate_cmd.evaluate)
app.command("serve")(service_cmds.serve)
app.command("usage")(service_cmds.usage)
app.command("fairshare")(service_cmds.fairshare)
app.add_typer(queue_cmd.app, name="queue")
app.add_typer(service_cmds.db_app, name="db")
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(slurm_cmd.app, name="slurm")
app.add_typer(audit_cmd.app, name="audit")
app.add_typer(alerts_cmd.app, name="alerts")
app.command("simulate")(simulate_cmd.simulate)


@app.command("version")
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


if __name__ == "__main__":  # pragma: no cover
    app()
