"""Bearer JWT authentication and role checks.

A token carries ``sub`` (who), ``brand`` (the only brand it may act on) and ``roles``. Roles are
ordered viewer < editor < admin; ``service`` is the internal role one service uses to call another
and satisfies every requirement. Keys come from settings; each has a ``kid`` so keys can rotate.
"""

from __future__ import annotations

import contextvars
import enum
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import jwt
from pydantic import BaseModel, Field, SecretStr

from likeness.errors import PermissionDenied, Unauthenticated

AUDIENCE = "likeness"
BRAND_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
# Asymmetric algorithms take a PEM public key for verification; HS256 takes a shared secret.
SUPPORTED_ALGORITHMS = ("HS256", "RS256", "ES256", "EdDSA")


class Role(enum.IntEnum):
    """Brand roles in increasing power, and ``SERVICE`` for service-to-service calls.

    ``SERVICE`` acts as an editor; it is admin only where an access rule names it explicitly.
    """

    VIEWER = 1
    EDITOR = 2
    ADMIN = 3
    SERVICE = 4

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name.upper()]
        except KeyError:
            raise Unauthenticated(f"token names an unknown role {name!r}") from None


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one RPC."""

    subject: str
    brand_id: str
    roles: frozenset[Role]

    def has(self, required: Role) -> bool:
        for role in self.roles:
            if role is Role.SERVICE:
                if required in (Role.VIEWER, Role.EDITOR, Role.SERVICE):
                    return True
            elif required is not Role.SERVICE and role >= required:
                return True
        return False


# An access rule: one role (or a stronger brand role), or any of a set of roles.
AccessRule = Role | frozenset[Role]


class JwtKey(BaseModel):
    """One key: ``secret`` for HS256, or a PEM ``public_key`` (verify) / ``private_key`` (sign)."""

    kid: str = Field(min_length=1)
    algorithm: str = "HS256"
    secret: SecretStr | None = None
    public_key: str | None = None
    private_key: SecretStr | None = None

    def verification_key(self) -> str:
        if self.algorithm == "HS256":
            if self.secret is None:
                raise ValueError(f"key {self.kid}: HS256 needs a secret")
            return self.secret.get_secret_value()
        if self.public_key is None:
            raise ValueError(f"key {self.kid}: {self.algorithm} needs a public_key")
        return self.public_key

    def signing_key(self) -> str:
        if self.algorithm == "HS256":
            return self.verification_key()
        if self.private_key is None:
            raise ValueError(f"key {self.kid}: {self.algorithm} needs a private_key to sign")
        return self.private_key.get_secret_value()


_current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "likeness_principal", default=None
)


def current_principal() -> Principal:
    """The caller of the RPC being handled; set by the authentication interceptor."""
    principal = _current_principal.get()
    if principal is None:
        raise Unauthenticated("no authenticated caller for this call")
    return principal


def set_current_principal(principal: Principal | None) -> contextvars.Token[Principal | None]:
    return _current_principal.set(principal)


def reset_current_principal(token: contextvars.Token[Principal | None]) -> None:
    _current_principal.reset(token)


class TokenVerifier:
    """Verifies bearer tokens against a set of keys selected by the token's ``kid`` header."""

    def __init__(
        self,
        keys: Iterable[JwtKey],
        issuer: str,
        leeway_seconds: float = 30.0,
        cache_entries: int = 1024,
        max_lifetime_seconds: float = 24 * 3600.0,
    ) -> None:
        self._keys = {key.kid: key for key in keys}
        #: Tokens issued for longer than this are refused, whatever their signature: a leaked token
        #: must not stay good for years.
        self._max_lifetime = max_lifetime_seconds
        if not self._keys:
            raise ValueError("at least one JWT key is required")
        for key in self._keys.values():
            if key.algorithm not in SUPPORTED_ALGORITHMS:
                raise ValueError(f"key {key.kid}: unsupported algorithm {key.algorithm}")
            key.verification_key()
        self._issuer = issuer
        self._leeway = leeway_seconds
        # Tokens already verified, by their exact text (signature included), with their expiry: a
        # caller sends the same token on every call, and checking its signature and claims again
        # would give the same answer until it expires. The keys of a verifier never change.
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._verified_lock = threading.Lock()
        self._cache_entries = cache_entries

    def verify(self, token: str) -> Principal:
        with self._verified_lock:
            entry = self._verified.get(token)
            if entry is not None:
                principal, expires_at = entry
                if time.time() < expires_at + self._leeway:
                    self._verified.move_to_end(token)
                    return principal
                del self._verified[token]
        claims = self._verified_claims(token)
        principal = _principal_from_claims(claims)
        expiry = claims.get("exp")
        if self._cache_entries > 0 and isinstance(expiry, int | float):
            with self._verified_lock:
                self._verified[token] = (principal, float(expiry))
                while len(self._verified) > self._cache_entries:
                    self._verified.popitem(last=False)
        return principal

    def _verified_claims(self, token: str) -> dict[str, object]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("malformed bearer token") from None
        key = self._keys.get(str(header.get("kid", "")))
        if key is None:
            raise Unauthenticated("bearer token is signed with an unknown key")
        try:
            claims = jwt.decode(
                token,
                key.verification_key(),
                algorithms=[key.algorithm],
                audience=AUDIENCE,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("bearer token has expired") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("bearer token signature is invalid") from None
        except jwt.PyJWTError as error:
            raise Unauthenticated(f"bearer token rejected: {error}") from None
        lifetime = float(claims["exp"]) - float(claims["iat"])  # type: ignore[arg-type]
        if lifetime > self._max_lifetime + self._leeway:
            raise Unauthenticated(
                f"bearer token lives {lifetime:.0f} s; the platform accepts at most "
                f"{self._max_lifetime:.0f} s "
                "(mint a shorter-lived token)"
            )
        return claims


def _principal_from_claims(claims: Mapping[str, object]) -> Principal:
    brand_id = claims.get("brand")
    if not isinstance(brand_id, str) or not BRAND_ID_PATTERN.match(brand_id):
        raise Unauthenticated("bearer token has no valid 'brand' claim")
    raw_roles = claims.get("roles")
    if not isinstance(raw_roles, list) or not raw_roles:
        raise Unauthenticated("bearer token has no 'roles' claim")
    roles = frozenset(Role.parse(str(name)) for name in raw_roles)
    return Principal(subject=str(claims["sub"]), brand_id=brand_id, roles=roles)


def mint_token(
    key: JwtKey,
    *,
    issuer: str,
    subject: str,
    brand_id: str,
    roles: Iterable[Role],
    ttl_seconds: float = 3600.0,
    now: float | None = None,
) -> str:
    """Sign a token; used for local development, tests, and service-to-service calls."""
    if not BRAND_ID_PATTERN.match(brand_id):
        raise ValueError(f"brand id {brand_id!r} must be a lower-case slug")
    issued_at = time.time() if now is None else now
    claims = {
        "iss": issuer,
        "aud": AUDIENCE,
        "sub": subject,
        "brand": brand_id,
        "roles": sorted(role.name.lower() for role in roles),
        "iat": int(issued_at),
        "exp": int(issued_at + ttl_seconds),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key.signing_key(), algorithm=key.algorithm, headers={"kid": key.kid})


def require_role(principal: Principal, rule: AccessRule, method: str) -> None:
    accepted = rule if isinstance(rule, frozenset) else frozenset({rule})
    if not any(principal.has(required) for required in accepted):
        names = " or ".join(sorted(required.name.lower() for required in accepted))
        raise PermissionDenied(f"{method} needs the {names} role")


def first_signing_key(keys: Sequence[JwtKey]) -> JwtKey | None:
    """The first key that can sign (an HS256 secret or a private key); verify-only keys are skipped."""
    for key in keys:
        if (key.algorithm == "HS256" and key.secret is not None) or key.private_key is not None:
            return key
    return None


class ServiceTokens:
    """The tokens one service mints to call another on a brand's behalf (role SERVICE): one per brand,
    reused until half its lifetime is gone."""

    def __init__(self, key: JwtKey, issuer: str, subject: str, ttl_s: float) -> None:
        self._key = key
        self._issuer = issuer
        self._subject = subject
        self._ttl = ttl_s
        self._tokens: dict[str, tuple[str, float]] = {}

    def __call__(self, brand_id: str) -> str:
        token, expires = self._tokens.get(brand_id, ("", 0.0))
        now = time.time()
        if expires - now < self._ttl / 2:
            token = mint_token(
                self._key, issuer=self._issuer, subject=self._subject, brand_id=brand_id,
                roles=[Role.SERVICE], ttl_seconds=self._ttl, now=now,
            )  # fmt: skip
            self._tokens[brand_id] = (token, now + self._ttl)
        return token
