"""Bearer JWTs: signature, expiry, issuer, audience, claims mapping and the algorithm-confusion attacks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hpcpolicy.auth import AuthConfigError, Authenticator, AuthSettings, Caller, Unauthenticated
from tests.auth.conftest import AUDIENCE, ISSUER, SECRET, TokenFactory, claims, public_pem


def bearer(auth: Authenticator, token: str) -> Caller:
    return auth.resolve(f"Bearer {token}", None)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TestHS256:
    def test_valid_token_names_the_user(self, hs_auth: Authenticator, hs_token: TokenFactory) -> None:
        who = bearer(hs_auth, hs_token(roles=["gpu_user"]))
        assert (who.subject, who.kind, who.roles) == ("alice", "user", frozenset({"gpu_user"}))
        assert who.scopes == frozenset({"decide"})
        assert not who.may_assert_identity and not who.is_admin

    def test_expired(self, hs_auth: Authenticator, hs_token: TokenFactory) -> None:
        with pytest.raises(Unauthenticated, match="expired"):
            bearer(hs_auth, hs_token(exp=int(time.time()) - 120))

    def test_leeway_accepts_just_expired(self, hs_token: TokenFactory) -> None:
        auth = Authenticator(AuthSettings(jwt_secret=SECRET, jwt_leeway_seconds=60))
        assert bearer(auth, hs_token(exp=int(time.time()) - 10)).subject == "alice"
        strict = Authenticator(AuthSettings(jwt_secret=SECRET, jwt_leeway_seconds=0))
        with pytest.raises(Unauthenticated, match="expired"):
            bearer(strict, hs_token(exp=int(time.time()) - 10))

    def test_exp_is_required(self, hs_auth: Authenticator, hs_token: TokenFactory) -> None:
        with pytest.raises(Unauthenticated, match="'exp'"):
            bearer(hs_auth, hs_token(exp=None))

    def test_not_yet_valid(self, hs_auth: Authenticator, hs_token: TokenFactory) -> None:
        with pytest.raises(Unauthenticated, match="not valid yet"):
            bearer(hs_auth, hs_token(nbf=int(time.time()) + 600))

    def test_wrong_secret(self, hs_auth: Authenticator, hs_token: TokenFactory) -> None:
        with pytest.raises(Unauthenticated, match="signature is invalid") as err:
            bearer(hs_auth, hs_token(secret="another-secret-of-sufficient-length-42"))
        assert SECRET not in str(err.value)

    def test_tampered_payload(self, hs_auth: Authenticator, hs_token: TokenFactory) -> None:
        head, _, sig = hs_token().split(".")
        forged = b64(json.dumps(claims(sub="root")).encode())
        with pytest.raises(Unauthenticated, match="signature is invalid"):
            bearer(hs_auth, f"{head}.{forged}.{sig}")

    def test_wrong_issuer(self, hs_auth: Authenticator, hs_token: TokenFactory) -> None:
        with pytest.raises(Unauthenticated, match="issuer"):
            bearer(hs_auth, hs_token(iss="https://evil.example.com"))

    def test_missing_issuer_when_configured(self, hs_auth: Authenticator, hs_token: TokenFactory) -> None:
        with pytest.raises(Unauthenticated, match="'iss'"):
            bearer(hs_auth, hs_token(iss=None))

    def test_wrong_audience(self, hs_auth: Authenticator, hs_token: TokenFactory) -> None:
        with pytest.raises(Unauthenticated, match="audience"):
            bearer(hs_auth, hs_token(aud="some-other-api"))

    def test_audience_list_containing_ours(self, hs_auth: Authenticator, hs_token: TokenFactory) -> None:
        assert bearer(hs_auth, hs_token(aud=["account", AUDIENCE])).subject == "alice"

    def test_issuer_and_audience_unchecked_when_not_configured(self, hs_token: TokenFactory) -> None:
        auth = Authenticator(AuthSettings(jwt_secret=SECRET))
        assert bearer(auth, hs_token(iss="anyone", aud="anything")).subject == "alice"
        assert any("AUDIENCE" in w for w in auth.warnings())

    def test_missing_sub(self, hs_auth: Authenticator, hs_token: TokenFactory) -> None:
        with pytest.raises(Unauthenticated, match="'sub'"):
            bearer(hs_auth, hs_token(sub=None))

    @pytest.mark.parametrize("sub", ["", "   ", 42])
    def test_blank_or_non_string_sub(self, hs_auth: Authenticator, hs_token: TokenFactory, sub: object) -> None:
        with pytest.raises(Unauthenticated, match=r"(?i)sub"):
            bearer(hs_auth, hs_token(sub=sub))

    def test_garbage_token(self, hs_auth: Authenticator) -> None:
        with pytest.raises(Unauthenticated, match="malformed bearer token"):
            bearer(hs_auth, "not-a-jwt")

    def test_oversized_token(self, hs_auth: Authenticator) -> None:
        with pytest.raises(Unauthenticated, match="too long"):
            bearer(hs_auth, "x" * 20_000)


class TestAlgorithmPinning:
    def test_alg_none_rejected(self, hs_auth: Authenticator) -> None:
        unsigned = jwt.encode(claims(), "", algorithm="none")
        with pytest.raises(Unauthenticated, match="'none' is not accepted"):
            bearer(hs_auth, unsigned)

    def test_alg_none_rejected_even_if_listed(self) -> None:
        with pytest.raises(AuthConfigError, match="'none'"):
            Authenticator(AuthSettings(jwt_secret=SECRET, jwt_algorithms="HS256,none"))

    def test_hs_token_against_rs_config(self, rsa_key: rsa.RSAPrivateKey) -> None:
        """The public key is public: an attacker HMAC-signs with it and hopes it is used as the secret."""
        pem = public_pem(rsa_key)
        auth = Authenticator(AuthSettings(jwt_public_key=pem))
        forged = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(json.dumps(claims()).encode())
        sig = hmac.new(pem.encode(), forged.encode(), hashlib.sha256).digest()
        with pytest.raises(Unauthenticated, match="'HS256' is not accepted"):
            bearer(auth, f"{forged}.{b64(sig)}")

    def test_hs_algorithm_cannot_be_configured_without_secret(self, rsa_key: rsa.RSAPrivateKey) -> None:
        with pytest.raises(AuthConfigError, match="HS256 needs HPCPOLICY_JWT_SECRET"):
            Authenticator(AuthSettings(jwt_public_key=public_pem(rsa_key), jwt_algorithms="RS256,HS256"))

    def test_rs_token_against_hs_config(self, rsa_key: rsa.RSAPrivateKey, hs_auth: Authenticator) -> None:
        token = jwt.encode(claims(), rsa_key, algorithm="RS256")
        with pytest.raises(Unauthenticated, match="'RS256' is not accepted"):
            bearer(hs_auth, token)

    def test_algorithm_must_match_key_type(self, ec_key: ec.EllipticCurvePrivateKey) -> None:
        with pytest.raises(AuthConfigError, match="does not match"):
            Authenticator(AuthSettings(jwt_public_key=public_pem(ec_key), jwt_algorithms="RS256"))

    def test_short_secret_refused(self) -> None:
        with pytest.raises(AuthConfigError, match="at least 32 bytes"):
            Authenticator(AuthSettings(jwt_secret="short"))

    def test_hs512_needs_a_longer_secret(self) -> None:
        with pytest.raises(AuthConfigError, match="at least 64 bytes"):
            Authenticator(AuthSettings(jwt_secret=SECRET, jwt_algorithms="HS512"))


class TestPublicKeys:
    def test_rs256(self, rsa_key: rsa.RSAPrivateKey) -> None:
        auth = Authenticator(AuthSettings(jwt_public_key=public_pem(rsa_key), jwt_issuer=ISSUER, jwt_audience=AUDIENCE))
        assert bearer(auth, jwt.encode(claims(), rsa_key, algorithm="RS256")).subject == "alice"

    def test_rs256_signed_by_another_key(self, rsa_key: rsa.RSAPrivateKey) -> None:
        auth = Authenticator(AuthSettings(jwt_public_key=public_pem(rsa_key)))
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        with pytest.raises(Unauthenticated, match="signature is invalid"):
            bearer(auth, jwt.encode(claims(), other, algorithm="RS256"))

    def test_es256(self, ec_key: ec.EllipticCurvePrivateKey) -> None:
        auth = Authenticator(AuthSettings(jwt_public_key=public_pem(ec_key), jwt_audience=AUDIENCE))
        assert auth.jwt is not None and auth.jwt.algorithms == {"ES256"}
        assert bearer(auth, jwt.encode(claims(sub="bob"), ec_key, algorithm="ES256")).subject == "bob"

    def test_public_key_from_file(self, ec_key: ec.EllipticCurvePrivateKey, tmp_path: Path) -> None:
        path = tmp_path / "idp.pem"
        path.write_text(public_pem(ec_key))
        auth = Authenticator(AuthSettings(jwt_public_key=str(path)))
        assert bearer(auth, jwt.encode(claims(), ec_key, algorithm="ES256")).subject == "alice"

    def test_secret_and_public_key_together(self, rsa_key: rsa.RSAPrivateKey, hs_token: TokenFactory) -> None:
        auth = Authenticator(AuthSettings(jwt_secret=SECRET, jwt_public_key=public_pem(rsa_key)))
        assert bearer(auth, hs_token()).subject == "alice"
        assert bearer(auth, jwt.encode(claims(sub="bob"), rsa_key, algorithm="RS256")).subject == "bob"

    def test_missing_key_file(self, tmp_path: Path) -> None:
        with pytest.raises(AuthConfigError, match="not PEM text and not a readable file"):
            Authenticator(AuthSettings(jwt_public_key=str(tmp_path / "missing.pem")))

    def test_private_key_given_by_mistake(self, rsa_key: rsa.RSAPrivateKey) -> None:
        pem = rsa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        with pytest.raises(AuthConfigError, match="private key") as err:
            Authenticator(AuthSettings(jwt_public_key=pem))
        assert "MII" not in str(err.value)  # the key material is not echoed


class TestClaimsMapping:
    def test_roles_as_list(self, hs_auth: Authenticator, hs_token: TokenFactory) -> None:
        assert bearer(hs_auth, hs_token(roles=["gpu_user", "staff"])).roles == {"gpu_user", "staff"}

    def test_roles_as_space_separated_string(self, hs_auth: Authenticator, hs_token: TokenFactory) -> None:
        assert bearer(hs_auth, hs_token(roles="gpu_user  staff")).roles == {"gpu_user", "staff"}

    def test_no_roles(self, hs_auth: Authenticator, hs_token: TokenFactory) -> None:
        assert bearer(hs_auth, hs_token()).roles == frozenset()

    def test_malformed_roles(self, hs_auth: Authenticator, hs_token: TokenFactory) -> None:
        with pytest.raises(Unauthenticated, match="'roles' claim"):
            bearer(hs_auth, hs_token(roles={"gpu": True}))

    def test_custom_claims_and_nested_roles(self, hs_token: TokenFactory) -> None:
        settings = AuthSettings(
            jwt_secret=SECRET, jwt_user_claim="preferred_username", jwt_roles_claim="realm_access.roles"
        )
        token = hs_token(preferred_username="carol", realm_access={"roles": ["gpu_user"]})
        who = bearer(Authenticator(settings), token)
        assert (who.subject, who.roles) == ("carol", frozenset({"gpu_user"}))

    def test_namespaced_claim_with_dots(self, hs_token: TokenFactory) -> None:
        settings = AuthSettings(jwt_secret=SECRET, jwt_roles_claim="https://hpc.example.org/roles")
        who = bearer(Authenticator(settings), hs_token(**{"https://hpc.example.org/roles": ["staff"]}))
        assert who.roles == {"staff"}

    def test_groups_from_the_groups_claim(self, hs_auth: Authenticator, hs_token: TokenFactory) -> None:
        who = bearer(hs_auth, hs_token(groups=["genomics-lab", "dgx-users"], roles=["staff"]))
        assert (who.groups, who.roles) == ({"genomics-lab", "dgx-users"}, {"staff"})
        assert bearer(hs_auth, hs_token()).groups == frozenset()

    def test_nested_groups_claim(self, hs_token: TokenFactory) -> None:
        settings = AuthSettings(jwt_secret=SECRET, jwt_groups_claim="hpc.unix_groups")
        who = bearer(Authenticator(settings), hs_token(hpc={"unix_groups": "genomics-lab lab"}, groups=["other"]))
        assert who.groups == {"genomics-lab", "lab"}

    def test_groups_claim_switched_off(self, hs_token: TokenFactory) -> None:
        settings = AuthSettings(jwt_secret=SECRET, jwt_roles_claim="groups", jwt_groups_claim="")
        who = bearer(Authenticator(settings), hs_token(groups=["staff"]))
        assert (who.roles, who.groups) == ({"staff"}, frozenset())

    def test_malformed_groups(self, hs_auth: Authenticator, hs_token: TokenFactory) -> None:
        with pytest.raises(Unauthenticated, match="'groups' claim"):
            bearer(hs_auth, hs_token(groups=[{"name": "lab"}]))

    def test_admin_by_scope(self, hs_auth: Authenticator, hs_token: TokenFactory) -> None:
        who = bearer(hs_auth, hs_token(scope="openid profile hpcpolicy:admin"))
        assert who.is_admin and who.scopes == {"decide", "admin"}

    def test_admin_by_scp_list(self, hs_auth: Authenticator, hs_token: TokenFactory) -> None:
        assert bearer(hs_auth, hs_token(scp=["hpcpolicy:admin"])).is_admin

    def test_admin_by_role(self, hs_auth: Authenticator, hs_token: TokenFactory) -> None:
        assert bearer(hs_auth, hs_token(roles=["hpc_admin"])).is_admin

    def test_configurable_admin_role(self, hs_token: TokenFactory) -> None:
        auth = Authenticator(AuthSettings(jwt_secret=SECRET, jwt_admin_role="ops"))
        assert bearer(auth, hs_token(roles=["ops"])).is_admin
        assert not bearer(auth, hs_token(roles=["hpc_admin"])).is_admin

    def test_unprefixed_admin_scope_from_another_api_is_not_ours(
        self, hs_auth: Authenticator, hs_token: TokenFactory
    ) -> None:
        who = bearer(hs_auth, hs_token(scope="admin"))
        assert not who.is_admin and who.scopes == {"decide"}


class TestUsableIds:
    """A verified user claim still has to be a user id every ledger backend can store."""

    @pytest.mark.parametrize(
        ("sub", "why"),
        [
            ("a" * 192, "longer than 191 characters"),
            ("ali\x00ce", r"control character \(U\+0000\) at position 3"),
            ("alice\n", r"control character \(U\+000A\)"),
            ("\x7f", r"control character \(U\+007F\)"),
            ("al\ud800ice", r"lone surrogate \(U\+D800\) at position 2"),
            (" alice", "starts or ends with whitespace"),  # MariaDB would compare it equal to "alice"
            ("a\x85b", r"control character \(U\+0085\)"),
        ],
    )
    def test_unusable_user_claim_is_401(
        self, hs_auth: Authenticator, hs_token: TokenFactory, sub: str, why: str
    ) -> None:
        with pytest.raises(Unauthenticated, match=f"token 'sub' claim is not a usable user id: it .*{why}"):
            bearer(hs_auth, hs_token(sub=sub))

    @pytest.mark.parametrize("sub", ["a" * 191, "émile.dupont@example.org", "用户", "cn=x, ou=y"])
    def test_usable_user_claims(self, hs_auth: Authenticator, hs_token: TokenFactory, sub: str) -> None:
        assert bearer(hs_auth, hs_token(sub=sub)).subject == sub

    def test_unusable_roles_are_dropped(self, hs_auth: Authenticator, hs_token: TokenFactory) -> None:
        """No policy role can be spelt so (``[A-Za-z0-9][A-Za-z0-9_.@-]*``): dropping one changes no decision."""
        roles = ["gpu_user", "x" * 192, "bad\x00role", "tab\trole", "\udfffrole", "staff"]
        assert bearer(hs_auth, hs_token(roles=roles)).roles == {"gpu_user", "staff"}

    def test_unusable_groups_are_dropped(self, hs_auth: Authenticator, hs_token: TokenFactory) -> None:
        groups = ["lab", "cn=" + "x" * 200, "bad\x00group", " lab2"]
        assert bearer(hs_auth, hs_token(groups=groups)).groups == {"lab"}
