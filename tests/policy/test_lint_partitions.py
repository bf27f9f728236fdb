"""Policy-check for where jobs run (v2): what is refused, where in the file, and what to write instead."""

from __future__ import annotations

import pytest

from hpcpolicy.policy import PolicyError, parse_policy
from hpcpolicy.policy.errors import dotted
from tests.builders import PolicyBuilder, gpu_nodes

OFFICE = {"timezone": "Europe/Berlin", "open": [{"days": ["mon", "fri"], "from": "08:00", "to": "20:00"}]}


def _v2() -> PolicyBuilder:
    return PolicyBuilder().set("apiVersion", "hpcpolicy/v2")


def _issues(builder: PolicyBuilder) -> dict[str, tuple[str, str]]:
    return {dotted(i.path): (i.severity, i.message) for i in builder.lint_issues()}


def _refused(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="p.yaml")
    return [str(i) for i in caught.value.issues]


def test_a_v2_policy_using_every_construct_is_clean() -> None:
    b = _v2().user(roles=["gpu_user", "staff", "long"])
    b.partition("gpu", nodes=gpu_nodes(), rates={"gpu_hour": {"a100": 2}},
                        limits={"min_gpus": 1, "min_cpus": 1, "min_memory_gb": 0, "min_nodes": 1})  # fmt: skip
    b.set("clusters.hpc.partitions.gpu.exclusive", True).set("clusters.hpc.partitions.gpu.routing", "explicit")
    b.set("clusters.hpc.partitions.cpu.schedule", OFFICE | {"exempt": {"roles": ["staff"]}})
    b.set("clusters.hpc.qos", {"long": {"access": {"roles": ["long"]}, "limits": {"max_walltime_hours": 336},
                                        "partitions": ["cpu"]}})  # fmt: skip
    assert b.lint_issues() == []
    loaded = parse_policy(b.yaml())
    assert loaded.warnings == ()


@pytest.mark.parametrize(
    ("dotted_path", "value"),
    [
        ("clusters.hpc.partitions.cpu.limits.min_cpus", 2),
        ("clusters.hpc.partitions.cpu.exclusive", True),
        ("clusters.hpc.partitions.cpu.routing", "explicit"),
        ("clusters.hpc.partitions.cpu.schedule", OFFICE),
        ("clusters.hpc.qos", {"long": {}}),
    ],
)
def test_a_v1_file_refuses_each_construct_with_the_version_to_write(dotted_path: str, value: object) -> None:
    text = PolicyBuilder().set("apiVersion", "hpcpolicy/v1").set(dotted_path, value).yaml()
    [problem] = _refused(text)
    key = dotted_path.split(".")[-1] + ":"
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.strip().startswith(key))
    assert problem == (
        f"p.yaml:{line} {dotted_path}: is part of hpcpolicy/v2: write `apiVersion: hpcpolicy/v2` "
        "(`hpcpolicy policy migrate` does)"
    )


def test_minimums_no_job_can_meet() -> None:
    found = _issues(_v2().limits(min_cpus=200, max_cpus=64, min_gpus=1, min_nodes=5))
    assert found == {
        "clusters.hpc.partitions.cpu.limits.min_cpus": (
            "error", "min_cpus 200 is above max_cpus 64: no job could run; lower min_cpus or raise max_cpus"),
        "clusters.hpc.partitions.cpu.limits.min_gpus": (
            "error", "min_gpus 1 is above the hardware's 0: no job could run; lower min_gpus or raise max_gpus"),
        "clusters.hpc.partitions.cpu.limits.min_nodes": (
            "error", "min_nodes 5 is above the hardware's 4: no job could run; lower min_nodes or raise max_nodes"),
    }  # fmt: skip


def test_qos_references_and_limits() -> None:
    b = _v2().limits(min_cpus=8).project("other")
    b.set("clusters.hpc.qos", {
        "tiny": {"limits": {"max_cpus": 4}},
        "typo": {"partitions": ["cpus"], "access": {"projects": ["ghost"]}},
        "none": {"partitions": []},
        "short": {"limits": {"max_walltime_hours": 1, "default_walltime_hours": 2}},
    })  # fmt: skip
    found = _issues(b)
    assert found == {
        "clusters.hpc.qos.tiny.limits.max_cpus": (
            "error",
            "min_cpus 8 is above max_cpus 4 on partition cpu: no job could run; lower min_cpus or raise max_cpus",
        ),
        "clusters.hpc.qos.typo.partitions[0]": ("error", "unknown partition 'cpus': this cluster has cpu"),
        "clusters.hpc.qos.typo.access.projects[0]": ("error", "unknown project 'ghost'"),
        "clusters.hpc.qos.none.partitions": (
            "warning", "is empty: no job may use this QOS (leave it out to allow every partition)"),
        "clusters.hpc.qos.short.limits.default_walltime_hours": (
            "error", "on partition cpu the default walltime (2 h) would exceed the cap (1 h)"),
    }  # fmt: skip


def test_roles_nobody_holds_in_a_qos_or_an_exemption() -> None:
    b = _v2().set("clusters.hpc.partitions.cpu.schedule", OFFICE | {"exempt": {"roles": ["staff"]}})
    b.set("clusters.hpc.qos", {"long": {"access": {"roles": ["long"]}}})
    found = _issues(b)
    assert found == {
        "clusters.hpc.partitions.cpu.schedule.exempt.roles[0]": ("warning", (
            "no user or group in the policy holds role 'staff'; only tokens asserting it can be exempt from cpu's "
            "opening hours: grant it to a user (users.<name>.roles) or a group (groups.<name>.roles), or remove it")),
        "clusters.hpc.qos.long.access.roles[0]": ("warning", (
            "no user or group in the policy holds role 'long'; only tokens asserting it can use qos long: grant it "
            "to a user (users.<name>.roles) or a group (groups.<name>.roles), or remove it")),
    }  # fmt: skip
    assert _issues(b.group("ops", ["staff", "long"]).user(groups=["ops"])) == {}


def test_an_exemption_of_everyone_is_suspicious() -> None:
    found = _issues(_v2().set("clusters.hpc.partitions.cpu.schedule", OFFICE | {"exempt": {"deny_roles": ["x"]}}))
    [(severity, message)] = found.values()
    assert severity == "warning" and message.startswith("exempts everyone")


def _line(text: str, row: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.strip() == row)


def test_schedule_shape_errors_say_where_and_what_to_write() -> None:
    bad = {"timezone": "Europe/Berln", "open": [{"days": ["monday"], "from": "8:00", "to": 1200},
                                               {"from": "09:00", "to": "09:00"}]}  # fmt: skip
    text = _v2().set("clusters.hpc.partitions.cpu.schedule", bad).yaml()
    base = "clusters.hpc.partitions.cpu.schedule"
    eight = _line(text, "from: '8:00'")
    clock = 'must be a time of day written "HH:MM" from "00:00" to "24:00", as "08:00"'
    empty = 'from and to are the same time, so the window is empty; for a whole day write from: "00:00", to: "24:00"'
    assert _refused(text) == [
        f"p.yaml:{_line(text, 'timezone: Europe/Berln')} {base}.timezone: unknown time zone: write an IANA name "
        "such as Europe/Berlin, America/New_York or UTC (got 'Europe/Berln')",
        f"p.yaml:{_line(text, '- monday')} {base}.open[0].days[0]: Input should be 'mon', 'tue', 'wed', 'thu', "
        "'fri', 'sat' or 'sun' (got 'monday')",
        f"p.yaml:{eight} {base}.open[0].from: {clock} (got '8:00')",
        f"p.yaml:{_line(text, 'to: 1200')} {base}.open[0].to: write the time in quotes, as \"20:00\" (unquoted, "
        "YAML reads it as the number 1200) (got 1200)",
        f"p.yaml:{_line(text, '- from: 09:00')} {base}.open[1]: {empty}",
    ]


def test_an_unquoted_time_in_a_file_is_read_as_a_number_and_refused_with_the_fix() -> None:
    schedule = "        schedule:\n          open:\n          - {from: 19:00, to: 07:00}\n"
    text = _v2().yaml().replace("        rates:\n", schedule + "        rates:\n", 1)
    [problem] = _refused(text)
    assert problem.endswith('.open[0].from: write the time in quotes, as "19:00" (unquoted, YAML reads it as the '
                            "number 1140) (got 1140)")  # fmt: skip
