"""Services (v2): the web applications and workflow engines that submit on users' behalf.

A request may name the ``service`` that sends it (a Galaxy server, a Nextflow Tower, a notebook hub). The
policy caps how many runs a service holds at once, in total and per user, as a job orchestrator limits
"five concurrent runs per user of this workflow": a run counts from admission (its lien) until it ends.
Like ``max_jobs``, these are transient limits: a request over one can wait in the admission queue.

The name is what the caller asserts, as roles are: a service's own key should send it. A user calling
the API directly with no ``service`` is not bound by a service's caps (their own ``max_jobs`` still are).
"""

from __future__ import annotations

from hpcpolicy.policy.schema.common import Model, NonNegInt


class Service(Model):
    """``max_runs``: runs of the service at once, all users together; ``max_runs_per_user``: of one user."""

    max_runs: NonNegInt | None = None
    max_runs_per_user: NonNegInt | None = None
