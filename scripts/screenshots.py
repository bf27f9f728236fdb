"""Screenshots of the dashboard's main pages for docs/img/, made by a browser, not by hand.

    .venv/bin/python scripts/screenshots.py [--out docs/img] [--chromium /usr/bin/chromium]

Starts the service in-process (uvicorn on a free loopback port) over a temporary SQLite ledger filled with
three weeks of made-up activity (scripts/demo_data.py, at a fixed date), signs in with an admin API key the
way a person does, and saves each page at 1280×800. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import re
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))

from demo_data import populate

from hpcpolicy.api import create_app
from hpcpolicy.auth import Authenticator, AuthSettings, create_key
from hpcpolicy.ledger.sql.connect import create_ledger_engine
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.migrate import upgrade

PAGES = [
    ("overview", "/ui/"),
    ("scope", "/ui/scopes/project:wgs-cohort"),
    ("decisions", "/ui/decisions?answer=denied"),
    ("decision", None),  # the newest denial with several rules, found on the explorer
    ("queue", "/ui/queue"),
    ("fairshare", "/ui/fairshare"),
    ("policy-diff", "/ui/policy/revisions/2"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_ledger_engine(f"sqlite:///{tmp}/ledger.db")
        upgrade(engine)
        gov = populate(SqlLedger(engine, audit=True))
        key, _ = create_key(Path(tmp) / "keys.yaml", "docs-admin", ["admin"])
        settings = AuthSettings(_env_file=None, keys_file=Path(tmp) / "keys.yaml", api_keys=None, jwt_secret=None,
                                jwt_public_key=None)  # fmt: skip
        server, thread, url = _serve(create_app(gov, Authenticator(settings)))
        try:
            _shoot(url, key, args.out, args.chromium)
        finally:
            server.should_exit = True
            thread.join(timeout=15)  # its lifespan stops the background tasks before the data goes
        engine.dispose()


def _serve(app: object) -> tuple[uvicorn.Server, threading.Thread, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("the server did not start")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def _shoot(url: str, key: str, out: Path, chromium: str) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.route(re.compile(r"^(?!http://127\.0\.0\.1:)"), lambda route: route.abort())  # nothing external
        page.goto(f"{url}/ui/login")
        page.fill("#credential", key)
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/ui/")
        for name, path in PAGES:
            page.goto(url + (path or _denial(page, url)))
            page.screenshot(path=str(out / f"{name}.png"))
            print(f"{out / name}.png")
        browser.close()


def _denial(page: Page, url: str) -> str:
    page.goto(f"{url}/ui/decisions?code=cost.role_required")
    href = page.locator("#decisions a").first.get_attribute("href")
    if href is None:
        raise SystemExit("no denial to show")
    return href


if __name__ == "__main__":
    main()
