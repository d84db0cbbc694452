import time

import jwt
import pytest

from likeness.errors import PermissionDenied, Unauthenticated
from likeness.rpc.auth import JwtKey, Principal, Role, TokenVerifier, mint_token, require_role


def _verifier(key: JwtKey) -> TokenVerifier:
    return TokenVerifier([key], issuer="likeness")


def test_valid_token_gives_subject_brand_and_roles(jwt_key, make_token):
    principal = _verifier(jwt_key).verify(make_token(brand="acme", roles=[Role.EDITOR], subject="ana"))
    assert principal == Principal(subject="ana", brand_id="acme", roles=frozenset({Role.EDITOR}))


def test_expired_token_is_rejected(jwt_key, make_token):
    token = make_token(ttl_seconds=60, now=time.time() - 3600)
    with pytest.raises(Unauthenticated, match="expired"):
        _verifier(jwt_key).verify(token)


def test_token_signed_with_another_secret_under_the_same_kid_is_rejected(jwt_key, make_token):
    forged = JwtKey(kid=jwt_key.kid, secret="not-the-real-secret-but-long-enough-for-hs256")
    with pytest.raises(Unauthenticated, match="signature"):
        _verifier(jwt_key).verify(make_token(key=forged))


def test_a_verified_token_is_remembered_only_until_it_expires(jwt_key, make_token, monkeypatch):
    verifier = _verifier(jwt_key)
    issued = time.time()
    token = make_token(ttl_seconds=60, now=issued)
    assert verifier.verify(token).brand_id == "acme"
    # Remembered: a second check does not decode the token again.
    decoded = []
    original = jwt.decode
    monkeypatch.setattr(jwt, "decode", lambda *args, **kwargs: decoded.append(1) or original(*args, **kwargs))
    assert verifier.verify(token).brand_id == "acme"
    assert decoded == []
    # Past its expiry (and the leeway) the remembered answer no longer counts: the token is checked
    # in full again (PyJWT's own clock still finds it valid; test_expired_token_is_rejected covers
    # what that check says about an expired one).
    monkeypatch.setattr(time, "time", lambda: issued + 60 + 31)
    verifier.verify(token)
    assert decoded == [1]


def test_a_remembered_token_does_not_vouch_for_a_tampered_copy(jwt_key, make_token):
    verifier = _verifier(jwt_key)
    token = make_token()
    verifier.verify(token)
    header, payload, signature = token.split(".")
    tampered = ".".join((header, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")))
    with pytest.raises(Unauthenticated):
        verifier.verify(tampered)


def test_the_remembered_tokens_are_bounded(jwt_key, make_token):
    verifier = TokenVerifier([jwt_key], issuer="likeness", cache_entries=3)
    tokens = [make_token(subject=f"user-{index}") for index in range(5)]
    for token in tokens:
        verifier.verify(token)
    assert list(verifier._verified) == tokens[2:]


def test_token_with_unknown_kid_is_rejected(jwt_key, make_token):
    other = JwtKey(kid="someone-else", secret="x" * 40)
    with pytest.raises(Unauthenticated, match="unknown key"):
        _verifier(jwt_key).verify(make_token(key=other))


def _claims(**overrides: object) -> dict[str, object]:
    """A valid token's claims for acme's admin "x", with these changed."""
    now = int(time.time())
    claims: dict[str, object] = {"sub": "x", "brand": "acme", "roles": ["admin"], "aud": "likeness",
                                 "iss": "likeness", "iat": now, "exp": now + 60}  # fmt: skip
    return claims | overrides


def test_unsigned_token_is_rejected(jwt_key):
    token = jwt.encode(
        _claims(),
        key=None,
        algorithm="none",
        headers={"kid": jwt_key.kid},
    )
    with pytest.raises(Unauthenticated):
        _verifier(jwt_key).verify(token)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"brand": "Not A Slug"}, "brand"),
        ({"roles": []}, "roles"),
        ({"roles": ["superuser"]}, "unknown role"),
        ({"aud": "someone-else"}, "(?i)audience"),
    ],
)
def test_tokens_with_bad_claims_are_rejected(jwt_key, claims, reason):
    payload = _claims(**claims)
    token = jwt.encode(payload, jwt_key.signing_key(), algorithm="HS256", headers={"kid": jwt_key.kid})
    with pytest.raises(Unauthenticated, match=reason):
        _verifier(jwt_key).verify(token)


def test_asymmetric_keys_verify_with_the_public_half():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    signer = JwtKey(kid="ed", algorithm="EdDSA", private_key=private_pem)
    verifier = TokenVerifier([JwtKey(kid="ed", algorithm="EdDSA", public_key=public_pem)], issuer="likeness")
    token = mint_token(signer, issuer="likeness", subject="svc", brand_id="acme", roles=[Role.SERVICE])
    assert verifier.verify(token).roles == frozenset({Role.SERVICE})


def test_brand_roles_are_ordered():
    viewer = Principal("v", "acme", frozenset({Role.VIEWER}))
    admin = Principal("a", "acme", frozenset({Role.ADMIN}))
    require_role(viewer, Role.VIEWER, "Get")
    with pytest.raises(PermissionDenied, match="editor"):
        require_role(viewer, Role.EDITOR, "Update")
    for role in (Role.VIEWER, Role.EDITOR, Role.ADMIN):
        require_role(admin, role, "Anything")
    with pytest.raises(PermissionDenied, match="service"):
        require_role(admin, Role.SERVICE, "RecordGeneratedAsset")


def test_service_role_acts_as_editor_and_as_admin_only_where_named():
    service = Principal("s", "acme", frozenset({Role.SERVICE}))
    for role in (Role.VIEWER, Role.EDITOR, Role.SERVICE):
        require_role(service, role, "Call")
    with pytest.raises(PermissionDenied, match="admin"):
        require_role(service, Role.ADMIN, "EraseCharacter")
    require_role(service, frozenset({Role.ADMIN, Role.SERVICE}), "CreateBrand")


def test_a_token_issued_for_longer_than_the_maximum_lifetime_is_rejected(jwt_key, make_token):
    verifier = TokenVerifier([jwt_key], issuer="likeness", max_lifetime_seconds=3600)
    assert verifier.verify(make_token(ttl_seconds=3600)).brand_id == "acme"
    with pytest.raises(Unauthenticated, match="at most 3600 s"):
        verifier.verify(make_token(ttl_seconds=7200))


def test_service_tokens_are_one_per_brand_and_renewed_at_half_their_life(jwt_key, monkeypatch):
    from likeness.rpc.auth import ServiceTokens, first_signing_key

    verify_only = JwtKey(kid="pub", algorithm="EdDSA", public_key="-----BEGIN PUBLIC KEY-----\n")
    assert first_signing_key([verify_only, jwt_key]) is jwt_key
    assert first_signing_key([verify_only]) is None
    start = time.time()
    monkeypatch.setattr(time, "time", lambda: start)
    tokens = ServiceTokens(jwt_key, "likeness", "service:generator", ttl_s=600)
    acme = tokens("acme")
    assert tokens("acme") == acme and tokens("globex") != acme
    principal = _verifier(jwt_key).verify(acme)
    assert (principal.subject, principal.brand_id, principal.roles) == (
        "service:generator",
        "acme",
        frozenset({Role.SERVICE}),
    )
    monkeypatch.setattr(time, "time", lambda: start + 299)
    assert tokens("acme") == acme
    monkeypatch.setattr(time, "time", lambda: start + 301)
    assert tokens("acme") != acme
