"""Header handling: which header carries what, and every way a request can fail to authenticate."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcpolicy.auth import Authenticator, AuthError, AuthSettings, Unauthenticated, create_key
from tests.auth.conftest import SECRET, TokenFactory


@pytest.fixture
def both(tmp_path: Path) -> tuple[Authenticator, str]:
    """An authenticator accepting keys and HS256 tokens, and one valid key."""
    path = tmp_path / "keys.yaml"
    key, _ = create_key(path, "svc")
    return Authenticator(AuthSettings(keys_file=path, jwt_secret=SECRET)), key


class TestAccepted:
    def test_x_api_key(self, both: tuple[Authenticator, str]) -> None:
        auth, key = both
        assert auth.resolve(None, key).subject == "svc"

    @pytest.mark.parametrize("scheme", ["ApiKey", "apikey", "APIKEY", "Bearer"])
    def test_api_key_in_authorization(self, both: tuple[Authenticator, str], scheme: str) -> None:
        auth, key = both
        assert auth.resolve(f"{scheme} {key}", None).subject == "svc"

    @pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
    def test_bearer_jwt(self, both: tuple[Authenticator, str], hs_token: TokenFactory, scheme: str) -> None:
        auth, _ = both
        assert auth.resolve(f"{scheme} {hs_token()}", None).subject == "alice"

    def test_surrounding_whitespace(self, both: tuple[Authenticator, str]) -> None:
        auth, key = both
        assert auth.resolve(None, f"  {key} ").subject == "svc"
        assert auth.resolve(f" ApiKey   {key} ", "").subject == "svc"


class TestRefused:
    @pytest.mark.parametrize(("authorization", "x_api_key"), [(None, None), ("", ""), ("  ", None)])
    def test_missing(self, both: tuple[Authenticator, str], authorization: str | None, x_api_key: str | None) -> None:
        auth, _ = both
        with pytest.raises(Unauthenticated, match="missing credentials") as err:
            auth.resolve(authorization, x_api_key)
        assert isinstance(err.value, AuthError) and err.value.status == 401 and err.value.title == "unauthenticated"

    @pytest.mark.parametrize("header", ["Bearer", "Bearer ", "ApiKey", "Bearer a b", "tokenwithoutscheme"])
    def test_malformed_authorization(self, both: tuple[Authenticator, str], header: str) -> None:
        auth, _ = both
        with pytest.raises(Unauthenticated, match="malformed Authorization header"):
            auth.resolve(header, None)

    def test_unsupported_scheme(self, both: tuple[Authenticator, str]) -> None:
        auth, _ = both
        with pytest.raises(Unauthenticated, match="unsupported Authorization scheme 'Basic'"):
            auth.resolve("Basic YWxpY2U6c2VjcmV0", None)

    def test_both_headers(self, both: tuple[Authenticator, str], hs_token: TokenFactory) -> None:
        auth, key = both
        with pytest.raises(Unauthenticated, match="not both"):
            auth.resolve(f"Bearer {hs_token()}", key)

    @pytest.mark.parametrize("key", ["nonsense", "hpk_nothex_secret", "hpk_0123456789abcdef_"])
    def test_malformed_key(self, both: tuple[Authenticator, str], key: str) -> None:
        auth, _ = both
        with pytest.raises(Unauthenticated, match="malformed API key"):
            auth.resolve(None, key)

    def test_unknown_key(self, both: tuple[Authenticator, str]) -> None:
        auth, _ = both
        with pytest.raises(Unauthenticated, match="unknown or revoked API key \\(key_id 0123456789abcdef\\)"):
            auth.resolve(None, "hpk_0123456789abcdef_guessedsecret")

    def test_wrong_secret_for_known_key_id(self, both: tuple[Authenticator, str]) -> None:
        auth, key = both
        forged = key.rsplit("_", 1)[0] + "_forged"
        with pytest.raises(Unauthenticated, match="invalid API key") as err:
            auth.resolve(None, forged)
        assert "forged" not in str(err.value)

    def test_api_key_when_only_jwt_configured(self, hs_token: TokenFactory) -> None:
        auth = Authenticator(AuthSettings(jwt_secret=SECRET))
        with pytest.raises(Unauthenticated, match="API keys are not accepted"):
            auth.resolve(None, "hpk_0123456789abcdef_secret")

    def test_bearer_when_only_keys_configured(self, tmp_path: Path, hs_token: TokenFactory) -> None:
        auth = Authenticator(AuthSettings(keys_file=tmp_path / "keys.yaml"))
        with pytest.raises(Unauthenticated, match="bearer tokens are not accepted"):
            auth.resolve(f"Bearer {hs_token()}", None)
