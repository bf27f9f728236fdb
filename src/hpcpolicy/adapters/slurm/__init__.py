"""Slurm integration: the job_submit plugin's server side, and usage reconciliation from sacct.

- :mod:`.jobdesc`: raw ``job_desc`` fields → job shape → engine request (all Slurm quirks in one place);
- :mod:`.identity`: the submitter's Unix user and groups (the engine maps groups to roles and projects);
- :mod:`.admission`: the submit and modify hooks (decide, reserve, what to write back);
- :mod:`.verdict`: denials as ``sbatch: error:`` lines and ``ESLURM_*`` codes;
- :mod:`.sacct`: ``sacct --parsable2`` → observed jobs for :class:`hpcpolicy.service.reconcile.Reconciler`;
- :mod:`.plugin`: the packaged ``job_submit.lua``, rendered with the service address and failure mode.
"""

from hpcpolicy.adapters.slurm.admission import ModifyIn, SlurmAdmission, SlurmReply, SubmitIn
from hpcpolicy.adapters.slurm.jobdesc import JobDesc, JobShape, shape_of
from hpcpolicy.adapters.slurm.plugin import PluginConfig, render
from hpcpolicy.adapters.slurm.sacct import SacctReader, SlurmUnavailable, run_sacct

__all__ = [
    "JobDesc",
    "JobShape",
    "ModifyIn",
    "PluginConfig",
    "SacctReader",
    "SlurmAdmission",
    "SlurmReply",
    "SlurmUnavailable",
    "SubmitIn",
    "render",
    "run_sacct",
    "shape_of",
]
