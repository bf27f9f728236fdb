"""QOS (policy v2): other limits on the same partitions, for some callers."""

from __future__ import annotations

from hpcpolicy.engine import Code, PolicySnapshot
from tests.builders import PolicyBuilder, decide


def _long() -> PolicySnapshot:
    """cpu (168 h cap) and highmem (336 h) on hpc; QOS long: 336 h on cpu only, for role long_jobs;
    QOS any: no limits, everywhere. Cluster kube defines no QOS."""
    return (
        PolicyBuilder()
        .limits(max_walltime_hours=168)
        .partition("highmem", nodes={"count": 2, "cpus": 32, "memory_gb": 1024}, rates={"cpu_hour": 2},
                   limits={"max_walltime_hours": 336})
        .partition("k8s", cluster="kube", rates={"cpu_hour": 5})
        .set("clusters.hpc.qos", {
            "long": {"access": {"roles": ["long_jobs"]}, "limits": {"max_walltime_hours": 336},
                     "partitions": ["cpu"]},
            "any": {},
        })
        .snapshot()
    )  # fmt: skip


def test_a_qos_replaces_the_partitions_limits_of_the_same_name() -> None:
    snap = _long()
    assert decide(snap, partition="cpu", walltime_hours=300).codes == [Code.LIMIT_MAX_WALLTIME]
    long = decide(snap, partition="cpu", walltime_hours=300, qos="long", roles=("long_jobs",))
    assert long.allow
    too_long = decide(snap, partition="cpu", walltime_hours=400, qos="long", roles=("long_jobs",))
    [v] = too_long.violations
    assert (v.code, v.limit) == (Code.LIMIT_MAX_WALLTIME, 336)
    # limits it does not set stay the partition's
    assert decide(snap, partition="cpu", cpus=200, qos="long", roles=("long_jobs",)).codes == [Code.LIMIT_MAX_CPUS]


def test_a_qos_must_exist_be_allowed_and_be_accessible() -> None:
    snap = _long()
    unknown = decide(snap, partition="cpu", qos="ghost")
    assert unknown.codes == [Code.QOS_UNKNOWN]
    assert unknown.violations[0].scope == "qos:ghost"
    not_here = decide(snap, partition="highmem", qos="long", roles=("long_jobs",))
    assert not_here.codes == [Code.QOS_NOT_ALLOWED]
    assert not_here.violations[0].message == "qos long may not be used on partition highmem (only on cpu)"
    denied = decide(snap, partition="cpu", qos="long")
    assert denied.codes == [Code.QOS_ACCESS_DENIED]
    assert denied.violations[0].message == "qos long requires role long_jobs"
    assert decide(snap, partition="cpu", qos="any").allow


def test_a_cluster_that_defines_no_qos_leaves_it_to_its_scheduler() -> None:
    """Slurm gives every job a QOS (``normal``); a policy silent about QOS must not refuse it."""
    snap = _long()
    assert decide(snap, partition="k8s", qos="normal").allow
    assert decide(PolicyBuilder().snapshot(), qos="normal").allow


def test_routing_with_a_qos_considers_only_partitions_allowing_it() -> None:
    snap = _long()
    routed = decide(snap, walltime_hours=300, qos="long", roles=("long_jobs",), cluster="hpc")
    assert routed.allow and routed.route is not None and routed.route.partition == "cpu"
    # without the QOS the same job only fits highmem
    plain = decide(snap, walltime_hours=300, cluster="hpc")
    assert plain.route is not None and plain.route.partition == "highmem"
    # the QOS's access rejects its partitions: no fit, and why for each partition
    denied = decide(snap, walltime_hours=300, qos="long", cluster="hpc")
    assert denied.codes == [Code.ROUTE_NO_FIT]
    assert {r.partition: [v.code for v in r.violations] for r in denied.rejected_routes} == {
        "cpu": [Code.QOS_ACCESS_DENIED],
        "highmem": [Code.QOS_NOT_ALLOWED],
    }


def test_a_qos_defined_nowhere_in_scope_is_unknown() -> None:
    snap = _long()
    decision = decide(snap, qos="ghost", cluster="hpc")
    assert decision.codes == [Code.QOS_UNKNOWN] and decision.route is None
    # with every cluster in scope, kube (which defines no QOS) takes it
    anywhere = decide(snap, qos="ghost")
    assert anywhere.route is not None and anywhere.route.cluster == "kube"


def test_qos_access_deny_lists_and_projects() -> None:
    snap = (
        PolicyBuilder()
        .project("other")
        .user(projects=["proj", "other"], default_project="proj", roles=["student"])
        .set("clusters.hpc.qos", {"big": {"access": {"deny_roles": ["student"]}},
                                  "mine": {"access": {"projects": ["other"]}}})
        .snapshot()
    )  # fmt: skip
    assert decide(snap, qos="big", partition="cpu").violations[0].message == "role student may not use qos big"
    assert decide(snap, qos="mine", partition="cpu").codes == [Code.QOS_ACCESS_DENIED]
    assert decide(snap, qos="mine", partition="cpu", project="other").allow


def test_qos_access_and_schedule_exemptions_read_alternatives() -> None:
    """QOS access and opening-hours exemptions are access blocks like a partition's: any_of/all_of count."""
    snap = (
        PolicyBuilder()
        .project("other")
        .user(projects=["proj", "other"], default_project="proj")
        .set("clusters.hpc.qos", {"long": {"access": {"any_of": [{"roles": ["long_jobs"]}, {"projects": ["other"]}]}}})
        .snapshot()
    )
    assert decide(snap, qos="long", partition="cpu", project="other").allow
    refused = decide(snap, qos="long", partition="cpu")
    assert refused.codes == [Code.QOS_ACCESS_DENIED] and "requires one of" in refused.violations[0].message
    assert decide(snap, qos="long", partition="cpu", roles=["long_jobs"]).allow
