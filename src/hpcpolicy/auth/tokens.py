"""Bearer JWT verification with PyJWT, pinned to the algorithms and keys the operator configured.

The two classic JWT attacks are closed by construction: ``alg: none`` is never in the accepted set,
and the key is chosen by the algorithm's family, so an HS256 token is only ever checked against the
shared secret, never against the RSA/EC public key used as an HMAC secret.

A verified token is still foreign input: its user claim becomes a user id stored in every ledger
backend, so it must be one they can hold (:func:`hpcpolicy.engine.limits.ident_problem`), else the token
is refused (401). Role and group names that could not be stored are dropped instead: a policy name is
``[A-Za-z0-9][A-Za-z0-9_.@-]*``, so such a name can never grant or deny anything, and refusing the token
would lock the user out over an identity-provider group (a long directory DN, say) that cannot matter.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from hpcpolicy.auth.caller import SCOPE_ADMIN, SCOPE_DECIDE, Caller
from hpcpolicy.auth.errors import AuthConfigError, Unauthenticated
from hpcpolicy.auth.settings import AuthSettings
from hpcpolicy.engine.limits import ident_problem

HMAC_ALGORITHMS = {"HS256": 32, "HS384": 48, "HS512": 64}  # minimum secret bytes: the hash size
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_ALGORITHMS = frozenset({"ES256", "ES384", "ES512", "ES256K"})
OKP_ALGORITHMS = frozenset({"EdDSA"})
SCOPE_PREFIX = "hpcpolicy:"
MAX_TOKEN_LENGTH = 16 * 1024

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
_KEY_TYPES = (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)
_EC_DEFAULTS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512", "secp256k1": "ES256K"}


def load_public_key(value: str) -> PublicKey:
    """A PEM public key or certificate, given as the PEM text itself or as a path to a file holding it."""
    text = value.strip()
    if not text.startswith("-----BEGIN"):
        try:
            text = Path(text).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise AuthConfigError(f"HPCPOLICY_JWT_PUBLIC_KEY: not PEM text and not a readable file: {exc}") from None
    data = text.encode()
    try:
        key: object = (
            x509.load_pem_x509_certificate(data).public_key()
            if b"BEGIN CERTIFICATE" in data
            else load_pem_public_key(data)
        )
    except ValueError as exc:
        hint = " (that is a private key: give the public key)" if b"PRIVATE KEY" in data else ""
        raise AuthConfigError(f"HPCPOLICY_JWT_PUBLIC_KEY: not a PEM public key or certificate{hint}: {exc}") from None
    if not isinstance(key, _KEY_TYPES):
        raise AuthConfigError(f"HPCPOLICY_JWT_PUBLIC_KEY: unsupported key type {type(key).__name__}")
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        raise AuthConfigError(f"HPCPOLICY_JWT_PUBLIC_KEY: RSA key of {key.key_size} bits; at least 2048 required")
    return key


def _family(key: PublicKey) -> frozenset[str]:
    if isinstance(key, rsa.RSAPublicKey):
        return RSA_ALGORITHMS
    if isinstance(key, ec.EllipticCurvePublicKey):
        return EC_ALGORITHMS
    return OKP_ALGORITHMS


def _default_algorithm(key: PublicKey) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey):
        curve = _EC_DEFAULTS.get(key.curve.name)
        if curve is None:
            raise AuthConfigError(f"HPCPOLICY_JWT_PUBLIC_KEY: unsupported EC curve {key.curve.name}")
        return curve
    return "EdDSA"


def claim(claims: Mapping[str, Any], name: str) -> Any:
    """``claims[name]``, or a dotted path into nested objects (``realm_access.roles``) if no claim has that name.

    The exact name wins, because namespaced claims such as ``https://example.org/roles`` contain dots.
    """
    if name in claims:
        return claims[name]
    node: Any = claims
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _words(value: Any, what: str) -> frozenset[str]:
    """A list of strings or one space-separated string (OAuth ``scope`` style); absent is empty."""
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    raise Unauthenticated(f"token {what} claim must be a list of strings or a space-separated string")


def _usable(names: frozenset[str]) -> frozenset[str]:
    """The names a request could carry; the others could match no policy role or group (module docstring)."""
    return frozenset(name for name in names if ident_problem(name) is None)


class JwtVerifier:
    """Verifies bearer tokens and turns their claims into a user :class:`Caller`. Built once, at start-up."""

    def __init__(self, settings: AuthSettings):
        self.settings = settings
        secret = settings.jwt_secret.get_secret_value().encode() if settings.jwt_secret else None
        public = load_public_key(settings.jwt_public_key) if settings.jwt_public_key else None
        algorithms = settings.algorithms
        if not algorithms:
            inferred = (["HS256"] if secret else []) + ([_default_algorithm(public)] if public else [])
            algorithms = tuple(inferred)
        for alg in algorithms:
            if alg in HMAC_ALGORITHMS:
                if secret is None:
                    raise AuthConfigError(f"HPCPOLICY_JWT_ALGORITHMS: {alg} needs HPCPOLICY_JWT_SECRET")
                if len(secret) < HMAC_ALGORITHMS[alg]:
                    raise AuthConfigError(
                        f"HPCPOLICY_JWT_SECRET: {alg} needs at least {HMAC_ALGORITHMS[alg]} bytes, got {len(secret)}"
                    )
            elif alg in RSA_ALGORITHMS | EC_ALGORITHMS | OKP_ALGORITHMS:
                if public is None:
                    raise AuthConfigError(f"HPCPOLICY_JWT_ALGORITHMS: {alg} needs HPCPOLICY_JWT_PUBLIC_KEY")
                if alg not in _family(public):
                    raise AuthConfigError(
                        f"HPCPOLICY_JWT_ALGORITHMS: {alg} does not match the {type(public).__name__} public key"
                    )
            else:
                raise AuthConfigError(f"HPCPOLICY_JWT_ALGORITHMS: {alg!r} is not an accepted algorithm")
        if not algorithms:
            raise AuthConfigError("JWT verification needs HPCPOLICY_JWT_SECRET or HPCPOLICY_JWT_PUBLIC_KEY")
        self.algorithms = frozenset(algorithms)
        self._secret = secret
        self._public = public

    def verify(self, token: str) -> Caller:
        claims = self.decode(token)
        s = self.settings
        subject = claim(claims, s.jwt_user_claim)
        if not isinstance(subject, str) or not subject.strip():
            raise Unauthenticated(f"token has no {s.jwt_user_claim!r} claim naming the user")
        if (why := ident_problem(subject)) is not None:
            raise Unauthenticated(f"token {s.jwt_user_claim!r} claim is not a usable user id: {why}")
        roles = _usable(_words(claim(claims, s.jwt_roles_claim), f"{s.jwt_roles_claim!r}"))
        groups_claim = s.jwt_groups_claim
        groups = _usable(_words(claim(claims, groups_claim), f"{groups_claim!r}")) if groups_claim else frozenset()
        token_scopes = _words(claims.get("scope"), "'scope'") | _words(claims.get("scp"), "'scp'")
        scopes = {SCOPE_DECIDE} | {t.removeprefix(SCOPE_PREFIX) for t in token_scopes if t.startswith(SCOPE_PREFIX)}
        if s.jwt_admin_role in roles:
            scopes.add(SCOPE_ADMIN)
        return Caller(subject=subject, kind="user", roles=roles, groups=groups, scopes=frozenset(scopes))

    def decode(self, token: str) -> dict[str, Any]:
        """Verified claims, or :class:`Unauthenticated` saying what was wrong (never echoing the token)."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise Unauthenticated("bearer token is too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthenticated("malformed bearer token: expected a JWT") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            shown = alg[:16] if isinstance(alg, str) else alg
            raise Unauthenticated(f"token algorithm {shown!r} is not accepted (accepted: {sorted(self.algorithms)})")
        key = self._secret if alg in HMAC_ALGORITHMS else self._public
        assert key is not None  # __init__ admits no algorithm without its key
        s = self.settings
        required = ["exp"] + (["iss"] if s.jwt_issuer else []) + (["aud"] if s.jwt_audience else [])
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                issuer=s.jwt_issuer,
                audience=s.jwt_audience,
                leeway=s.jwt_leeway_seconds,
                options={"require": required, "verify_aud": s.jwt_audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("token is not valid yet (nbf/iat in the future)") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"token lacks the required {exc.claim!r} claim") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("token issuer is not accepted") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("token audience is not accepted") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("token signature is invalid") from None
        except jwt.DecodeError:
            raise Unauthenticated("malformed bearer token") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"invalid bearer token: {exc}") from None  # PyJWT's messages name claims, not values
        return claims
