"""TokenVerifier and JwksCache against a real JWKS HTTP server: forgeries, claims and key rotation."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import jwt
import pytest

from shared.auth.permissions import permissions_of
from shared.auth.tokens import JwksCache, TokenError, TokenVerifier
from tests.support.jwks_server import (
    AUDIENCE,
    ISSUER,
    JwksServer,
    SigningKey,
    access_claims,
    b64url_decode,
    b64url_json,
    hs256_token,
    service_claims,
    unsigned_token,
)

MakeVerifier = Callable[..., TokenVerifier]


@pytest.fixture(scope="module")
def rsa_a() -> SigningKey:
    return SigningKey.rsa("rsa-a")


@pytest.fixture(scope="module")
def rsa_b() -> SigningKey:
    return SigningKey.rsa("rsa-b")


@pytest.fixture(scope="module")
def ec_key() -> SigningKey:
    return SigningKey.ec("ec-1")


@pytest.fixture
async def jwks(rsa_a: SigningKey, ec_key: SigningKey) -> AsyncIterator[JwksServer]:
    """A running JWKS server publishing key A (RSA) and an EC key."""
    server = JwksServer()
    server.publish(rsa_a, ec_key)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def make_verifier(jwks: JwksServer) -> AsyncIterator[MakeVerifier]:
    """Verifiers on the test server; JwksCache keyword arguments pass through. Closed afterwards."""
    caches: list[JwksCache] = []

    def make(**cache_options: Any) -> TokenVerifier:
        cache = JwksCache(jwks.url, **cache_options)
        caches.append(cache)
        return TokenVerifier(cache, issuer=ISSUER, audience=AUDIENCE)

    yield make
    for cache in caches:
        await cache.aclose()


@pytest.fixture
def verifier(make_verifier: MakeVerifier) -> TokenVerifier:
    return make_verifier(min_refetch_seconds=60)


async def refused(verifier: TokenVerifier, token: str, **kwargs: Any) -> str:
    """Verify, expecting TokenError; return its message for the test to check why."""
    with pytest.raises(TokenError) as caught:
        await verifier.verify(token, **kwargs)
    return str(caught.value)


# --- accepted tokens -------------------------------------------------------------------------------


@pytest.mark.parametrize("key_name", ["rsa_a", "ec_key"])
async def test_valid_token_becomes_a_principal(
    key_name: str, request: pytest.FixtureRequest, verifier: TokenVerifier
) -> None:
    """RS256 and ES256 both verify, and the principal carries the manager's cumulative permissions."""
    key: SigningKey = request.getfixturevalue(key_name)
    claims = access_claims()
    principal = await verifier.verify(key.sign(claims))

    assert principal.subject == claims["sub"]
    assert principal.user_id == uuid.UUID(claims["sub"])
    assert principal.tenant_id == uuid.UUID(claims["tid"])
    assert principal.role == "manager" and principal.plan == "basic"
    assert principal.token_type == "access" and not principal.is_service
    assert principal.token_id == claims["jti"] and principal.expires_at == claims["exp"]
    assert principal.permissions == permissions_of("manager")
    assert principal.can("campaigns:write") and principal.can("analytics:read")
    assert not principal.can("users:manage") and not principal.can("billing:manage")


async def test_service_token_is_accepted_only_where_asked(verifier: TokenVerifier, rsa_a: SigningKey) -> None:
    """A service token carries its scopes as permissions, no tenant and no user id."""
    token = rsa_a.sign(service_claims("analytics:read campaigns:read"))
    principal = await verifier.verify(token, frozenset({"access", "service"}))

    assert principal.is_service and principal.user_id is None
    assert principal.tenant_id is None and principal.role is None
    assert principal.permissions == frozenset({"analytics:read", "campaigns:read"})


async def test_expiry_within_leeway_is_accepted(verifier: TokenVerifier, rsa_a: SigningKey) -> None:
    """Clock skew of a few seconds (below the 10 s leeway) must not log users out."""
    now = int(time.time())
    principal = await verifier.verify(rsa_a.sign(access_claims(iat=now - 900, exp=now - 3)))
    assert principal.role == "manager"


# --- refused tokens --------------------------------------------------------------------------------


async def test_alg_none_is_refused_without_fetching_keys(
    verifier: TokenVerifier, jwks: JwksServer, rsa_a: SigningKey
) -> None:
    token = unsigned_token({"alg": "none", "typ": "JWT", "kid": rsa_a.kid}, access_claims(role="owner"))
    assert "algorithm" in await refused(verifier, token)
    assert jwks.requests == 0


async def test_hs256_signed_with_the_public_key_is_refused(
    verifier: TokenVerifier, jwks: JwksServer, rsa_a: SigningKey
) -> None:
    """The classic algorithm-confusion forgery: the public PEM used as an HMAC secret."""
    token = hs256_token(rsa_a.public_pem(), access_claims(role="owner"), rsa_a.kid)
    assert "algorithm" in await refused(verifier, token)
    assert jwks.requests == 0


async def test_algorithm_must_match_the_keys_own(
    verifier: TokenVerifier, rsa_a: SigningKey, ec_key: SigningKey
) -> None:
    """An ES256 token naming an RSA key's kid is refused, even though ES256 is allowed in general."""
    token = ec_key.sign(access_claims(), kid=rsa_a.kid)
    assert "does not match" in await refused(verifier, token)


async def test_tampered_payload_is_refused(verifier: TokenVerifier, rsa_a: SigningKey) -> None:
    """Promoting oneself to owner while keeping the original signature must fail."""
    header, payload, signature = rsa_a.sign(access_claims()).split(".")
    claims = json.loads(b64url_decode(payload))
    claims["role"] = "owner"
    forged = f"{header}.{b64url_json(claims)}.{signature}"
    assert "signature" in (await refused(verifier, forged)).lower()


async def test_unknown_kid_is_refused(verifier: TokenVerifier) -> None:
    stranger = SigningKey.ec("not-published")
    assert "unknown signing key" in await refused(verifier, stranger.sign(access_claims()))


async def test_missing_kid_is_refused(verifier: TokenVerifier, rsa_a: SigningKey) -> None:
    token = jwt.encode(access_claims(), rsa_a.private, algorithm="RS256")
    assert "key id" in await refused(verifier, token)


async def test_garbage_is_refused(verifier: TokenVerifier) -> None:
    assert "malformed" in await refused(verifier, "not-a-jwt")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": "someone-else"}, "audience"),
        ({"iss": "evil-issuer"}, "issuer"),
        ({"iat": int(time.time()) - 3600, "exp": int(time.time()) - 60}, "expired"),
        ({"jti": None}, "jti"),
        ({"exp": None}, "exp"),
        ({"typ": None}, "typ"),
    ],
    ids=["wrong-aud", "wrong-iss", "expired", "no-jti", "no-exp", "no-typ"],
)
async def test_bad_claims_are_refused(
    verifier: TokenVerifier, rsa_a: SigningKey, overrides: dict[str, Any], reason: str
) -> None:
    message = await refused(verifier, rsa_a.sign(access_claims(**overrides)))
    assert reason in message.lower()


@pytest.mark.parametrize("typ", ["refresh", "service"])
async def test_non_access_token_is_refused_where_access_is_needed(
    verifier: TokenVerifier, rsa_a: SigningKey, typ: str
) -> None:
    """A stolen refresh token, or a service token, must not act as a user's access token."""
    message = await refused(verifier, rsa_a.sign(access_claims(typ=typ)))
    assert f"a {typ} token cannot be used here" in message


@pytest.mark.parametrize(("overrides", "reason"), [({"tid": None}, "tenant"), ({"role": None}, "role")])
async def test_access_token_needs_tenant_and_role(
    verifier: TokenVerifier, rsa_a: SigningKey, overrides: dict[str, Any], reason: str
) -> None:
    assert reason in await refused(verifier, rsa_a.sign(access_claims(**overrides)))


async def test_unknown_role_verifies_with_no_permissions(verifier: TokenVerifier, rsa_a: SigningKey) -> None:
    principal = await verifier.verify(rsa_a.sign(access_claims(role="superuser")))
    assert principal.permissions == frozenset()


# --- caching and rotation --------------------------------------------------------------------------


async def test_second_verification_uses_the_cache(
    verifier: TokenVerifier, jwks: JwksServer, rsa_a: SigningKey, ec_key: SigningKey
) -> None:
    token = rsa_a.sign(access_claims())
    await verifier.verify(token)
    await verifier.verify(token)
    await verifier.verify(ec_key.sign(access_claims()))
    assert jwks.requests == 1


async def test_rotation_refetches_once_then_throttles_unknown_kids(
    make_verifier: MakeVerifier, jwks: JwksServer, rsa_a: SigningKey, rsa_b: SigningKey
) -> None:
    """A new key is picked up by one refetch; forged kids right after it cause no further fetch."""
    verifier = make_verifier(min_refetch_seconds=0.5)
    jwks.publish(rsa_a)
    await verifier.verify(rsa_a.sign(access_claims()))
    assert jwks.requests == 1

    jwks.publish(rsa_a, rsa_b)
    await asyncio.sleep(0.6)
    principal = await verifier.verify(rsa_b.sign(access_claims(role="admin")))
    assert principal.can("users:manage")
    assert jwks.requests == 2

    forged = SigningKey.ec("forged-kid").sign(access_claims())
    assert "unknown signing key" in await refused(verifier, forged)
    assert jwks.requests == 2

    await verifier.verify(rsa_a.sign(access_claims()))
    await verifier.verify(rsa_b.sign(access_claims()))
    assert jwks.requests == 2


async def test_key_published_inside_the_throttle_window_waits_for_it(
    make_verifier: MakeVerifier, jwks: JwksServer, rsa_a: SigningKey, rsa_b: SigningKey
) -> None:
    """The throttle is real: a brand-new kid right after a fetch is refused without dialing again."""
    verifier = make_verifier(min_refetch_seconds=60)
    jwks.publish(rsa_a)
    await verifier.verify(rsa_a.sign(access_claims()))
    jwks.publish(rsa_a, rsa_b)
    assert "unknown signing key" in await refused(verifier, rsa_b.sign(access_claims()))
    assert jwks.requests == 1


async def test_concurrent_unknown_kids_share_one_fetch(
    verifier: TokenVerifier, jwks: JwksServer, rsa_a: SigningKey, rsa_b: SigningKey
) -> None:
    """A burst of requests with a freshly rotated kid must not stampede user_management."""
    jwks.publish(rsa_a, rsa_b)
    tokens = [rsa_b.sign(access_claims()) for _ in range(20)]
    principals = await asyncio.gather(*(verifier.verify(token) for token in tokens))
    assert len(principals) == 20
    assert jwks.requests == 1


async def test_retired_key_is_refused_once_the_cache_expires(
    make_verifier: MakeVerifier, jwks: JwksServer, rsa_a: SigningKey, rsa_b: SigningKey
) -> None:
    """Removing a key from the JWKS revokes it within max_age."""
    verifier = make_verifier(max_age_seconds=0.5, min_refetch_seconds=0.1)
    token = rsa_a.sign(access_claims())
    await verifier.verify(token)

    jwks.publish(rsa_b)
    await verifier.verify(token)
    assert jwks.requests == 1
    await asyncio.sleep(0.6)
    assert "unknown signing key" in await refused(verifier, token)
    assert jwks.requests == 2


async def test_outage_before_any_key_is_throttled_then_recovers(
    make_verifier: MakeVerifier, jwks: JwksServer, ec_key: SigningKey
) -> None:
    """With no keys yet, an outage answers TokenError, retries at most once per window, then heals."""
    jwks.status = 503
    verifier = make_verifier(min_refetch_seconds=0.5)
    token = ec_key.sign(access_claims())
    for _ in range(3):
        assert "signing keys unavailable" in await refused(verifier, token)
    assert jwks.requests == 1

    jwks.status = 200
    await asyncio.sleep(0.6)
    assert (await verifier.verify(token)).role == "manager"
    assert jwks.requests == 2


async def test_outage_keeps_known_keys_working(
    make_verifier: MakeVerifier, jwks: JwksServer, rsa_a: SigningKey
) -> None:
    """Stale keys are better than none while user_management is down."""
    verifier = make_verifier(max_age_seconds=0.2, min_refetch_seconds=0.1)
    await verifier.verify(rsa_a.sign(access_claims()))
    jwks.status = 503
    await asyncio.sleep(0.3)
    principal = await verifier.verify(rsa_a.sign(access_claims()))
    assert principal.role == "manager"
    assert jwks.requests == 2


async def test_outage_still_throttles_unknown_kids(
    make_verifier: MakeVerifier, jwks: JwksServer, rsa_a: SigningKey
) -> None:
    """During an outage a flood of forged kids must not become a flood of JWKS requests.

    After a failed refetch the next one is due min_refetch_seconds later, not at once.
    """
    verifier = make_verifier(min_refetch_seconds=0.5)
    await verifier.verify(rsa_a.sign(access_claims()))
    jwks.status = 503
    await asyncio.sleep(0.6)
    for i in range(5):
        forged = SigningKey.ec(f"forged-{i}").sign(access_claims())
        assert "unknown signing key" in await refused(verifier, forged)
    assert jwks.requests == 2
    await verifier.verify(rsa_a.sign(access_claims()))
    assert jwks.requests == 2


async def test_unreachable_jwks_is_a_token_error_and_throttled(rsa_a: SigningKey) -> None:
    """Nothing listening on the JWKS URL: a TokenError (so a 401), not a connection error."""
    server = JwksServer()
    await server.start()
    url = server.url
    await server.stop()
    cache = JwksCache(url, min_refetch_seconds=60)
    verifier = TokenVerifier(cache, issuer=ISSUER, audience=AUDIENCE)
    try:
        assert "signing keys unavailable" in await refused(verifier, rsa_a.sign(access_claims()))
    finally:
        await cache.aclose()


# --- the verified-token cache ----------------------------------------------------------------------


async def test_a_verified_token_is_not_parsed_again_until_it_expires(
    make_verifier: MakeVerifier, rsa_a: SigningKey
) -> None:
    verifier = make_verifier(min_refetch_seconds=60)
    token = rsa_a.sign(access_claims(exp=int(time.time()) + 2))
    first = await verifier.verify(token)
    assert len(verifier.verified) == 1
    assert await verifier.verify(token) is first  # the cached verdict, not a new parse
    with pytest.raises(TokenError, match="refresh token cannot be used"):
        await verifier.verify(rsa_a.sign(access_claims(typ="refresh")))
    assert (
        await refused(verifier, token, expected_types=frozenset({"service"}))
        == "a access token cannot be used here"
    )
    # Past exp (+ leeway) the entry is dropped and the token verified again, which refuses it.
    verifier.leeway = 0
    await asyncio.sleep(2.1)
    assert "expired" in await refused(verifier, token)
    assert len(verifier.verified) == 0


async def test_the_cache_is_bounded_and_can_be_turned_off(
    make_verifier: MakeVerifier, rsa_a: SigningKey
) -> None:
    from shared.auth.tokens import VerifiedTokens

    verifier = make_verifier(min_refetch_seconds=60)
    verifier.verified = VerifiedTokens(capacity=3)
    tokens = [rsa_a.sign(access_claims()) for _ in range(5)]
    for token in tokens:
        await verifier.verify(token)
    assert len(verifier.verified) == 3
    verifier.verified = VerifiedTokens(capacity=0)
    await verifier.verify(tokens[0])
    assert len(verifier.verified) == 0


async def test_a_cached_token_of_a_retired_key_is_refused_once_the_keys_are_stale(
    make_verifier: MakeVerifier, jwks: JwksServer, rsa_a: SigningKey, rsa_b: SigningKey
) -> None:
    """The cache never outlives the key: a hit counts only while its kid is published in a JWKS
    younger than max_age."""
    verifier = make_verifier(max_age_seconds=0.5, min_refetch_seconds=0.1)
    token = rsa_a.sign(access_claims())
    await verifier.verify(token)
    jwks.publish(rsa_b)
    await verifier.verify(token)  # keys still fresh: cached, accepted
    await asyncio.sleep(0.6)
    assert "unknown signing key" in await refused(verifier, token)
