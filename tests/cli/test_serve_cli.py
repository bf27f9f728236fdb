"""``hpcpolicy serve`` up to the point where it would listen: what it says about the policy it serves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from hpcpolicy.cli.main import app
from hpcpolicy.policy import example_policy_path
from tests.cli.conftest import clean_service_env


@pytest.fixture(autouse=True)
def _no_listening(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run serve in a clean environment and, instead of listening, stop what it started."""
    clean_service_env(monkeypatch)
    monkeypatch.chdir(tmp_path)

    def run(application: Any, **_: Any) -> None:
        gov = application.state.governance
        gov.ctx.policies.distribution.stop()
        gov.ctx.ledger.engine.dispose()

    monkeypatch.setattr(uvicorn, "run", run)


def serve(policy: Path) -> str:
    done = CliRunner().invoke(app, ["serve", "--policy", str(policy), "--data-dir", "state"])
    assert done.exit_code == 0, done.stderr
    return " ".join(done.stderr.split())


def test_serve_says_when_it_keeps_a_newer_revision_than_the_file(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    example = example_policy_path().read_text(encoding="utf-8")
    policy.write_text(example)
    assert "warning" not in serve(policy)  # the first start stores the file as revision 1
    policy.write_text(example.replace("gpu: {role: gpu_user}", "gpu: {role: gpu_wizard}"))
    assert "warning" not in serve(policy)  # an edited file is new: revision 2, served
    policy.write_text(example)  # back to revision 1's content: older than what is served

    said = serve(policy)
    assert f"warning: policy file {policy} is revision 1; serving revision 2 (biocenter@" in said
    assert f"stored from {policy} at start-up, " in said and "which is newer. To serve the file, upload it" in said


@pytest.mark.parametrize(("value", "secure"), [(None, False), ("true", True), ("0", False)])
def test_serve_marks_the_dashboard_cookie_secure_when_told(
    monkeypatch: pytest.MonkeyPatch, value: str | None, secure: bool
) -> None:
    if value is not None:
        monkeypatch.setenv("HPCPOLICY_UI_SECURE_COOKIES", value)
    seen: list[bool] = []
    stop = uvicorn.run

    def run(application: Any, **kwargs: Any) -> None:
        seen.append(application.state.ui_secure_cookies)
        stop(application, **kwargs)

    monkeypatch.setattr(uvicorn, "run", run)
    serve(example_policy_path())
    assert seen == [secure]
