"""Slices of the machine a quota applies to, and the scope of a project's member.

A slice is matched against where a job runs: its route's cluster and partition and its GPU type (the
one it asks for, else the one of the partition's nodes; none for a job without GPUs). The same test
decides whether a quota binds a request (the engine) and whether a lien or charge counts toward it (the
ledgers), so the two can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from hpcpolicy.policy.schema.quotas import Slice as SliceSpec


@dataclass(frozen=True, slots=True)
class Slice:
    clusters: frozenset[str] | None = None
    partitions: frozenset[str] | None = None
    gpu_types: frozenset[str] | None = None

    @classmethod
    def of(cls, spec: SliceSpec | None) -> Slice | None:
        if spec is None:
            return None
        return cls(*(frozenset(v) if v else None for v in (spec.clusters, spec.partitions, spec.gpu_types)))

    @property
    def key(self) -> str:
        """A canonical text for this slice: ``partitions=dgx-a100;gpu_types=a100`` (sorted, stable)."""
        parts = (("clusters", self.clusters), ("partitions", self.partitions), ("gpu_types", self.gpu_types))
        return ";".join(f"{name}={','.join(sorted(values))}" for name, values in parts if values)

    def admits(self, cluster: str | None, partition: str | None, gpu_type: str | None) -> bool:
        return (
            (self.clusters is None or cluster in self.clusters)
            and (self.partitions is None or partition in self.partitions)
            and (self.gpu_types is None or gpu_type in self.gpu_types)
        )


def member_scope(project: str, user: str) -> str:
    """The scope of ``user`` as a member of ``project``: their share inside it, not their personal quota."""
    return f"project:{project}/user:{user}"


def job_gpu_type(gpus: int, asked: str | None, nodes_type: str | None) -> str | None:
    """The GPU type a job uses: the one it asks for, else its nodes'; none without GPUs."""
    if gpus <= 0:
        return None
    return asked or nodes_type
