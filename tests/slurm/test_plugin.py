"""``hpcpolicy slurm plugin``: the packaged job_submit.lua rendered with safe Lua literals, or refused."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpcpolicy.adapters.slurm.hold_marks import HOLD_MARK
from hpcpolicy.adapters.slurm.plugin import PluginConfig, lua_string, render, template
from hpcpolicy.adapters.slurm.verdict import slurm_error
from hpcpolicy.cli.main import app


def setting(text: str, name: str) -> str:
    match = re.search(rf"^local {name} = (.*)$", text, re.MULTILINE)
    assert match is not None, name
    return match.group(1)


def test_every_placeholder_is_filled() -> None:
    text = render(PluginConfig())
    assert "@@" in template() and "@@" not in text


def test_settings_become_lua_literals() -> None:
    config = PluginConfig("http://10.0.0.5:8080/policy/", 0.25, True, "helix", Path("/etc/slurm/hpcpolicy.key"))
    text = render(config)
    assert [setting(text, n) for n in ("HOST", "PORT", "TIMEOUT", "FAIL_OPEN", "CLUSTER", "API_KEY_FILE")] == [
        '"10.0.0.5"', "8080", "0.25", "true", '"helix"', '"/etc/slurm/hpcpolicy.key"',
    ]  # fmt: skip
    assert setting(text, "SUBMIT_PATH") == '"/policy/v1/adapters/slurm/job_submit"'
    assert setting(text, "MODIFY_PATH") == '"/policy/v1/adapters/slurm/job_modify"'


def test_defaults_fail_closed_within_a_second_without_credentials() -> None:
    text = render(PluginConfig())
    assert [setting(text, n) for n in ("HOST", "PORT", "TIMEOUT", "FAIL_OPEN", "CLUSTER", "API_KEY_FILE")] == [
        '"127.0.0.1"', "8003", "1", "false", "nil", "nil",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("config", "complaint"),
    [
        (PluginConfig(url="https://127.0.0.1:8003"), "plain HTTP"),
        (PluginConfig(url="http://policy.example.org:8003"), "literal IP address"),
        (PluginConfig(url="http://127.0.0.1:8003/?x=1"), "no query"),
        (PluginConfig(timeout=0), "timeout"),
        (PluginConfig(timeout=30), "timeout"),
        (PluginConfig(timeout=math.nan), "timeout"),
        (PluginConfig(api_key_file=Path("key.txt")), "absolute path"),
    ],
)
def test_settings_the_plugin_cannot_use_safely_are_refused(config: PluginConfig, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        render(config)


def test_lua_strings_cannot_break_out() -> None:
    assert lua_string('a"b\\c') == '"a\\"b\\\\c"'
    assert lua_string("x\n]] os.exit()") == '"x\\010]] os.exit()"'
    assert lua_string("\n1") == '"\\0101"'  # "\101" would be the letter e
    assert lua_string("é") == '"\\195\\169"'


def test_the_cli_prints_the_plugin_and_exits_1_on_bad_settings() -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["slurm", "plugin", "--url", "http://127.0.0.1:9000", "--timeout", "0.5", "--fail-open",
                               "--cluster", "helix"])  # fmt: skip
    assert done.exit_code == 0
    assert setting(done.stdout, "PORT") == "9000" and setting(done.stdout, "FAIL_OPEN") == "true"
    assert done.stdout.startswith("-- job_submit.lua")
    bad = runner.invoke(app, ["slurm", "plugin", "--url", "http://localhost:9000"])
    assert bad.exit_code == 1 and "literal IP address" in bad.stderr


def test_output_replaces_the_file_atomically_and_a_failed_run_leaves_it_untouched(tmp_path: Path) -> None:
    runner = CliRunner()
    live = tmp_path / "job_submit.lua"
    live.write_text("-- the live plugin\n")
    live.chmod(0o640)
    for args in (["--url", "http://localhost:9000"], ["--timeout", "0"], ["--timeout", "soon"]):
        bad = runner.invoke(app, ["slurm", "plugin", *args, "-o", str(live)])
        assert bad.exit_code in (1, 2)  # 1: refused by the renderer, 2: by the command line
        assert live.read_text() == "-- the live plugin\n"
    done = runner.invoke(app, ["slurm", "plugin", "--url", "http://127.0.0.1:9000", "--output", str(live)])
    assert done.exit_code == 0 and done.stdout == "" and f"wrote {live}" in done.stderr
    assert setting(live.read_text(), "PORT") == "9000" and live.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["job_submit.lua"]
    missing = runner.invoke(app, ["slurm", "plugin", "-o", str(tmp_path / "absent" / "job_submit.lua")])
    assert missing.exit_code == 1 and "cannot write" in missing.stderr


@pytest.mark.parametrize(
    ("first_code", "eslurm"),
    [
        ("project.not_member", "ESLURM_INVALID_ACCOUNT"),
        ("partition.role_required", "ESLURM_ACCESS_DENIED"),
        ("gpu.role_required", "ESLURM_ACCESS_DENIED"),
        ("quota.cpu_hours_exceeded", "ESLURM_ACCOUNTING_POLICY"),
        ("concurrency.max_jobs", "ESLURM_ACCOUNTING_POLICY"),
        ("limit.max_walltime", "ESLURM_INVALID_TIME_LIMIT"),
        ("limit.max_nodes", "ESLURM_INVALID_NODE_COUNT"),
        ("limit.max_gpus", "ESLURM_ACCOUNTING_POLICY"),
        ("route.no_fit", "ESLURM_ACCESS_DENIED"),
    ],
)
def test_the_first_violation_picks_the_slurm_error(first_code: str, eslurm: str) -> None:
    violations = [{"code": first_code}, {"code": "quota.cost_exceeded"}]
    assert slurm_error(violations) == eslurm


def test_the_hold_mark_is_the_services_own() -> None:
    assert setting(render(PluginConfig()), "HOLD_MARK") == lua_string(HOLD_MARK) == '"hpcpolicy-held"'
