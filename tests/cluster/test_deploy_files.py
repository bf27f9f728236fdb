"""The deployment files cannot run here; these checks keep them from silently disagreeing with the code:
probes on the right paths, a public bind only with authentication configured through variables the
service really reads, commands the CLI accepts, and a seed policy that validates."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from hpcpolicy.auth import AuthSettings
from hpcpolicy.cli.main import app as cli_app
from hpcpolicy.policy import parse_policy
from hpcpolicy.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"


def _manifests() -> dict[str, dict[str, Any]]:
    docs = [d for p in sorted(K8S.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]
    return {d["kind"]: d for d in docs}


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical, pending = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            logical.append(pending.strip())
            pending = ""
    return [(i.split(None, 1)[0].upper(), i.split(None, 1)[1]) for i in logical]


def _parse_exit(args: list[str]) -> int:
    """``hpcpolicy <args> --help``: the real command tree parses every option and command name, then
    stops at the help (nothing runs). 0 if all were known, 2 for an unknown option or command."""
    return CliRunner().invoke(cli_app, [*args, "--help"]).exit_code


def _accepted_by_cli(args: list[str]) -> None:
    assert _parse_exit(args) == 0, f"hpcpolicy {' '.join(args)}: not accepted by the CLI"


def _interpolate(value: str) -> str:
    """Compose's ``${NAME}`` / ``${NAME:?message}`` with a stand-in value (32 characters: a valid JWT secret)."""
    return re.sub(r"\$\{\w+(:\?[^}]*)?\}", "s" * 32, value)


def _service_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[ServiceSettings, AuthSettings]:
    for name in ("DATABASE_URL", "REDIS_URL", "HPCPOLICY_JWT_SECRET", "HPCPOLICY_API_KEYS", "HPCPOLICY_KEYS_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return ServiceSettings(), AuthSettings()


def test_dockerfile_runs_the_service_as_a_non_root_user_with_a_health_check() -> None:
    steps = _dockerfile()
    assert all(args.split()[0] == "python:3.11-slim" for op, args in steps if op == "FROM")
    final = steps[max(i for i, (op, _) in enumerate(steps) if op == "FROM") :]
    users = [args for op, args in final if op == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert any("[postgres,mysql]" in args for op, args in final if op == "RUN")
    entry = json.loads(next(args for op, args in final if op == "ENTRYPOINT"))
    cmd = json.loads(next(args for op, args in final if op == "CMD"))
    assert entry == ["hpcpolicy"] and cmd[:1] == ["serve"] and "0.0.0.0" in cmd
    _accepted_by_cli(cmd)
    health = next(args for op, args in final if op == "HEALTHCHECK")
    assert "/health" in health and "8003" in health
    assert "8003" in [args for op, args in final if op == "EXPOSE"]


def test_dockerignore_keeps_the_build_context_to_the_package() -> None:
    lines = [ln for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines[0] == "*" and {"!pyproject.toml", "!README.md", "!src/"} <= set(lines)


def test_compose_runs_two_authenticated_replicas_on_postgres_and_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    assert services["postgres"]["image"] == "postgres:15" and services["redis"]["image"].startswith("redis:")
    app = services["hpcpolicy"]
    assert app["deploy"]["replicas"] == 2 and "0.0.0.0" in app["command"]
    _accepted_by_cli(app["command"])
    _accepted_by_cli(services["migrate"]["command"])
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "${HPCPOLICY_JWT_SECRET:?" in app["environment"]["HPCPOLICY_JWT_SECRET"]  # required, no default
    settings, auth = _service_env({k: _interpolate(v) for k, v in app["environment"].items()}, monkeypatch)
    assert auth.configured and not ServiceSettings(host="0.0.0.0").loopback
    assert settings.ledger_url().startswith("postgresql+psycopg://") and settings.redis_url == "redis://redis:6379/0"
    seed = app["volumes"][0].split(":")
    assert (DEPLOY / seed[0]).resolve() == DEPLOY / "policy.yaml" and seed[1] == app["environment"]["HPCPOLICY_POLICY"]


def test_kubernetes_probes_auth_and_policy_wiring(monkeypatch: pytest.MonkeyPatch) -> None:
    m = _manifests()
    pod = m["Deployment"]["spec"]["template"]
    container = pod["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    args = container["args"]
    assert "0.0.0.0" in args and str(ports["http"]) == args[args.index("--port") + 1]
    _accepted_by_cli(args)
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True

    secret = m["Secret"]
    env = {e["name"]: e for e in container["env"]}
    for name in ("DATABASE_URL", "HPCPOLICY_JWT_SECRET", "REDIS_URL"):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"]
    values = {n: secret["stringData"][n] for n in ("DATABASE_URL", "HPCPOLICY_JWT_SECRET", "REDIS_URL")}
    values |= {n: e["value"] for n, e in env.items() if "value" in e}
    settings, auth = _service_env(values, monkeypatch)
    assert auth.configured and settings.redis_url and settings.policy_poll_seconds == 5

    mounts = {v["name"]: v["mountPath"] for v in container["volumeMounts"]}
    config = next(v for v in pod["spec"]["volumes"] if "configMap" in v)
    assert config["configMap"]["name"] == m["ConfigMap"]["metadata"]["name"]
    assert env["HPCPOLICY_POLICY"]["value"] == f"{mounts[config['name']]}/policy.yaml"

    service = m["Service"]["spec"]
    assert service["selector"].items() <= pod["metadata"]["labels"].items()
    assert {p["targetPort"] for p in service["ports"]} <= set(ports)


def test_kubernetes_migration_job_and_kustomization() -> None:
    m = _manifests()
    job = m["Job"]["spec"]["template"]["spec"]["containers"][0]
    assert (
        job["args"] == ["db", "upgrade"]
        and job["image"] == m["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"]
    )
    _accepted_by_cli(job["args"])
    assert job["env"][0]["valueFrom"]["secretKeyRef"]["key"] == "DATABASE_URL"
    resources = m["Kustomization"]["resources"]
    assert all((K8S / r).is_file() for r in resources) and "secret.example.yaml" not in resources
    assert {"configmap.yaml", "deployment.yaml", "service.yaml", "migrate-job.yaml"} <= set(resources)


def test_the_seed_policy_is_valid_and_the_same_everywhere() -> None:
    text = (DEPLOY / "policy.yaml").read_text()
    assert _manifests()["ConfigMap"]["data"]["policy.yaml"] == text
    assert parse_policy(text, source="deploy/policy.yaml").version.startswith("site@")


def test_the_cli_check_rejects_what_the_service_would() -> None:
    """The helper itself: an unknown flag or command is refused (so the checks above can fail)."""
    assert _parse_exit(shlex.split("serve --hots 0.0.0.0")) == 2
    assert _parse_exit(["db", "upgrayedd"]) == 2
    assert _parse_exit(["serve", "--host", "0.0.0.0", "--port", "8003"]) == 0
