"""Render the packaged ``job_submit.lua`` with the service address, timeout and failure mode filled in.

Values become Lua literals here (strings quoted and escaped), so nothing an admin passes can change the
script's code. Only ``http://`` with a literal IP address is accepted: the plugin speaks HTTP over a raw
LuaSocket and a host name would be resolved by a blocking DNS lookup that no timeout bounds, inside
slurmctld's locks. Run the service on the controller host (loopback) or a private address.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from hpcpolicy import __version__
from hpcpolicy.adapters.slurm.hold_marks import HOLD_MARK

SUBMIT_PATH = "/v1/adapters/slurm/job_submit"
MODIFY_PATH = "/v1/adapters/slurm/job_modify"
MAX_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class PluginConfig:
    url: str = "http://127.0.0.1:8003"
    timeout: float = 1.0
    fail_open: bool = False
    cluster: str | None = None
    api_key_file: Path | None = None


def render(config: PluginConfig) -> str:
    """The plugin's text. Raises ValueError for a URL, timeout or path the plugin cannot use safely."""
    host, port, prefix = _endpoint(config.url)
    if not (math.isfinite(config.timeout) and 0 < config.timeout <= MAX_TIMEOUT):
        raise ValueError(f"timeout must be > 0 and ≤ {MAX_TIMEOUT:g} s (slurmctld waits that long under its locks)")
    key_file = config.api_key_file
    if key_file is not None and not key_file.is_absolute():
        raise ValueError("the API key file must be an absolute path (slurmctld's working directory is not yours)")
    values = {
        "VERSION": __version__,
        "HOST": lua_string(host),
        "PORT": str(port),
        "SUBMIT_PATH": lua_string(prefix + SUBMIT_PATH),
        "MODIFY_PATH": lua_string(prefix + MODIFY_PATH),
        "TIMEOUT": f"{config.timeout:g}",
        "FAIL_OPEN": "true" if config.fail_open else "false",
        "CLUSTER": lua_string(config.cluster) if config.cluster else "nil",
        "API_KEY_FILE": lua_string(str(key_file)) if key_file else "nil",
        "HOLD_MARK": lua_string(HOLD_MARK),
    }
    text = template()
    for name, value in values.items():
        text = text.replace(f"@@{name}@@", value)
    return text


def template() -> str:
    return (resources.files("hpcpolicy.adapters.slurm") / "job_submit.lua.in").read_text(encoding="utf-8")


def lua_string(value: str) -> str:
    """A double-quoted Lua 5.1 string literal for any text (control characters as decimal escapes)."""
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable() and ord(ch) < 128:
            out.append(ch)
        else:
            out.extend(f"\\{byte:03d}" for byte in ch.encode("utf-8"))  # 3 digits: a digit may follow
    return '"' + "".join(out) + '"'


def _endpoint(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ValueError("the plugin speaks plain HTTP: use http://<IP address>:<port> (TLS: a local proxy)")
    try:
        host = str(ipaddress.ip_address(parts.hostname or ""))
    except ValueError:
        raise ValueError(f"use a literal IP address, not {parts.hostname!r} (DNS would block slurmctld)") from None
    if parts.query or parts.fragment:
        raise ValueError("the service URL takes no query or fragment")
    return host, parts.port or 80, parts.path.rstrip("/")
