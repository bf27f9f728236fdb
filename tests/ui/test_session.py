"""Signing in and out of the dashboard: the cookie's flags, CSRF, failures that say nothing, expiry."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hpcpolicy.api import create_app
from hpcpolicy.auth import Authenticator, revoke_key
from hpcpolicy.service import Governance
from hpcpolicy.ui import session
from tests.api.conftest import dev_settings
from tests.api.identities import token
from tests.ui.conftest import ORIGIN, MakeClient, as_key, sign_in


def set_cookie(response) -> str:
    (header,) = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    return header


def test_pages_send_an_anonymous_browser_to_sign_in_and_back(client: TestClient) -> None:
    response = client.get("/ui/decisions?answer=denied")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login?next=%2Fui%2Fdecisions%3Fanswer%3Ddenied"
    form = client.get(response.headers["location"])
    assert form.status_code == 200 and 'name="credential"' in form.text
    assert 'value="/ui/decisions?answer=denied"' in form.text


def test_signing_in_with_a_key_sets_a_strict_httponly_cookie_for_ui_only(client: TestClient, keys) -> None:
    response = sign_in(client, keys["admin"], next="/ui/queue")
    assert response.status_code == 303 and response.headers["location"] == "/ui/queue"
    cookie = set_cookie(response).lower()
    assert cookie.startswith(f"{session.COOKIE}=")
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie and "secure" not in cookie
    page = client.get("/ui/")
    assert page.status_code == 200 and "API key &#39;admin&#39;" in page.text


@pytest.mark.parametrize(("base_url", "option"), [("https://testserver", False), ("http://testserver", True)])
def test_the_cookie_is_secure_over_https_or_when_told(
    make_client: MakeClient, keys, base_url: str, option: bool
) -> None:
    client = make_client(base_url=base_url, secure_cookies=option)
    response = client.post("/ui/login", data={"credential": keys["admin"]}, headers={"origin": base_url})
    assert response.status_code == 303 and "secure" in set_cookie(response).lower()


@pytest.mark.parametrize("credential", ["hpk_nope_nope", "not a token", "x" * 5000, "eyJ.a.b", "a\x00b", "é"])
def test_a_wrong_credential_gets_the_form_again_with_401_and_no_reason(client: TestClient, credential: str) -> None:
    response = sign_in(client, credential)
    assert response.status_code == 401 and "set-cookie" not in response.headers
    assert "Sign-in failed: that token or key is not accepted here." in response.text
    assert "unknown" not in response.text and "malformed" not in response.text and "revoked" not in response.text


def test_an_empty_form_asks_for_a_credential(client: TestClient) -> None:
    response = client.post("/ui/login", content=b"junk=%ZZ&credential=", headers=ORIGIN)
    assert response.status_code == 401 and "Enter a token or an API key." in response.text


FOREIGN = [{}, {"origin": "https://evil.example"}, {"origin": "null"}, {"referer": "https://evil.example/ui/login"},
           {"origin": "http://testserver.evil.example"}]  # fmt: skip


@pytest.mark.parametrize("headers", FOREIGN)
def test_sign_in_and_out_from_another_site_are_refused(client: TestClient, keys, headers: dict[str, str]) -> None:
    response = client.post("/ui/login", data={"credential": keys["admin"]}, headers=headers)
    assert response.status_code == 403 and "set-cookie" not in response.headers
    as_key(client, keys["admin"])
    assert client.post("/ui/logout", headers=headers).status_code == 403
    assert client.get("/ui/").status_code == 200  # still signed in


def test_a_referer_from_this_server_will_do(client: TestClient, keys) -> None:
    response = client.post("/ui/login", data={"credential": keys["admin"]},
                           headers={"referer": "http://testserver/ui/login"})  # fmt: skip
    assert response.status_code == 303


def test_sign_out_forgets_the_cookie(client: TestClient, keys) -> None:
    as_key(client, keys["admin"])
    response = client.post("/ui/logout", headers=ORIGIN)
    assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    assert 'max-age=0' in set_cookie(response).lower() and "path=/ui" in set_cookie(response).lower()
    assert client.get("/ui/").status_code == 303


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/ui/..\\x", "/other", "/ui//x"])
def test_sign_in_never_redirects_off_the_dashboard(client: TestClient, keys, target: str) -> None:
    assert sign_in(client, keys["admin"], next=target).headers["location"] == "/ui/"


def test_an_expired_token_ends_the_sign_in(client: TestClient) -> None:
    client.cookies.set(session.COOKIE, token("alice", exp_in=-60), path="/ui")
    response = client.get("/ui/")
    assert response.status_code == 303 and response.headers["location"].endswith("&ended=1")
    assert "max-age=0" in set_cookie(response).lower()
    assert "Your sign-in has ended" in client.get(response.headers["location"]).text


def test_a_revoked_key_ends_the_sign_in_at_the_next_page(client: TestClient, keys, tmp_path: Path) -> None:
    as_key(client, keys["admin"])
    assert client.get("/ui/").status_code == 200
    revoke_key(tmp_path / "keys.yaml", "admin")
    assert client.get("/ui/").status_code == 303


def test_api_headers_work_without_a_cookie(client: TestClient, keys) -> None:
    assert client.get("/ui/queue", headers={"X-API-Key": keys["admin"]}).status_code == 200
    assert client.get("/ui/queue", headers={"Authorization": f"Bearer {token('alice')}"}).status_code == 200


def test_security_headers_on_every_answer(client: TestClient, keys) -> None:
    as_key(client, keys["admin"])
    for path in ("/ui/login", "/ui/", "/ui/nope", "/ui/decisions/nope"):
        headers = client.get(path).headers
        assert headers["content-security-policy"].startswith("default-src 'none'")
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY" and headers["referrer-policy"] == "same-origin"
        assert headers["x-content-type-options"] == "nosniff"
    assert client.get("/ui/").headers["cache-control"] == "no-store"


def test_the_stylesheet_is_cached_for_a_year_under_its_hash(client: TestClient) -> None:
    page = client.get("/ui/login").text
    assert f'href="/ui/static/dashboard.css?v={session_version()}"' in page
    css = client.get("/ui/static/dashboard.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert css.headers["cache-control"] == "public, max-age=31536000, immutable"


def session_version() -> str:
    from hpcpolicy.ui.static import VERSION

    return VERSION


def test_pages_carry_no_script_and_no_inline_style(client: TestClient, keys) -> None:
    as_key(client, keys["admin"])
    for path in ("/ui/login", "/ui/", "/ui/scopes/project:wgs-cohort", "/ui/decisions", "/ui/queue", "/ui/fairshare",
                 "/ui/policy"):  # fmt: skip
        text = client.get(path).text.lower()
        assert "<script" not in text and "style=" not in text and "<style" not in text and "http://" not in text


def test_dev_mode_needs_no_sign_in_and_says_so(gov: Governance) -> None:
    with TestClient(create_app(gov, Authenticator(dev_settings())), follow_redirects=False) as client:
        page = client.get("/ui/")
        assert page.status_code == 200 and "Dev mode" in page.text and "Sign out" not in page.text
        assert client.get("/ui/login").headers["location"] == "/ui/"
        assert client.get("/ui").headers["location"] == "http://testserver/ui/"  # the README's address works
