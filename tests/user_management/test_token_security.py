"""Access tokens against the running user_management process: what we issue verifies with an
independent JWT library, and every forgery or misuse we can think of is refused.

Forgeries that need a valid signature are signed with the service's real private key, so each
test isolates exactly one check (audience, issuer, expiry, token type, account state).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwt as jose_jwt
from jose.exceptions import JOSEError
from jwt.algorithms import RSAAlgorithm

from tests.support.kit import assert_problem
from tests.support.stack import Stack

ISSUER = "bizosaas"
AUDIENCE = "bizosaas-api"
ME = "/api/v1/users/me"
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_json(value: dict[str, Any]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode())


def _unverified_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _register(client: httpx.Client) -> dict[str, Any]:
    local = f"sec-{uuid.uuid4().hex[:12]}"
    response = client.post(
        "/api/v1/auth/register",
        json={
            "tenant_name": "Token Security Ltd",
            "email": f"{local}@acme.io",
            "password": "Very-long passphrase 42",
            "full_name": "Token Tester",
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
def owner(user_service: str) -> Iterator[dict[str, Any]]:
    """One registered owner (tenant, user, token pair) shared by the module; tests only read it."""
    with httpx.Client(base_url=user_service, timeout=10) as client:
        yield _register(client)


@pytest.fixture(scope="module")
def viewer(user_service: str, owner: dict[str, Any]) -> dict[str, Any]:
    """A viewer in the owner's tenant, logged in: the account whose role a forger would inflate."""
    email = f"viewer-{uuid.uuid4().hex[:12]}@acme.io"
    password = "Another long passphrase 7"
    with httpx.Client(base_url=user_service, timeout=10) as client:
        created = client.post(
            "/api/v1/users",
            json={"email": email, "full_name": "Vera Viewer", "role": "viewer", "password": password},
            headers={"Authorization": f"Bearer {owner['access_token']}"},
        )
        assert created.status_code == 201, created.text
        login = client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
        return login.json()


@pytest.fixture(scope="module")
def jwks(user_service: str) -> dict[str, Any]:
    response = httpx.get(f"{user_service}/.well-known/jwks.json", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def signing_key(stack: Stack) -> rsa.RSAPrivateKey:
    """The private key the service signs with: only its holder can mint tokens that pass the signature."""
    key = serialization.load_pem_private_key(
        Path(stack.env("user_management")["JWT_PRIVATE_KEY_FILE"]).read_bytes(), password=None
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@pytest.fixture(scope="module")
def signing_kid(jwks: dict[str, Any], signing_key: rsa.RSAPrivateKey) -> str:
    """The JWKS entry of the real key, matched by modulus rather than assuming it comes first."""
    modulus = json.loads(RSAAlgorithm.to_jwk(signing_key.public_key()))["n"]
    matches = [key["kid"] for key in jwks["keys"] if key.get("n") == modulus]
    assert len(matches) == 1, jwks
    return matches[0]


def _claims(owner: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """Claims exactly like the service's own access tokens, with some replaced or (None) removed."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "sub": owner["user"]["id"],
        "tid": owner["tenant"]["id"],
        "role": owner["user"]["role"],
        "plan": "basic",
        "typ": "access",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def _sign(key: Any, kid: str, claims: dict[str, Any], algorithm: str = "RS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})


async def _me(api: httpx.AsyncClient, token: str) -> httpx.Response:
    return await api.get(ME, headers={"Authorization": f"Bearer {token}"})


def _assert_refused(response: httpx.Response) -> dict[str, Any]:
    """401 problem with a Bearer challenge, and no user data in the answer."""
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "email" not in body
    return body


# --- what we issue ------------------------------------------------------------------------------


async def test_jwks_publishes_public_signing_keys_only(api: httpx.AsyncClient) -> None:
    """Every key is identified and typed, and none leaks a private member (that would let anyone sign)."""
    response = await api.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert keys
    for key in keys:
        assert key["kty"] == "RSA"
        assert key["alg"] == "RS256"
        assert key["use"] == "sig"
        assert isinstance(key["kid"], str) and key["kid"]
        assert not PRIVATE_JWK_MEMBERS & key.keys(), key
    assert len({key["kid"] for key in keys}) == len(keys)


async def test_an_issued_token_verifies_with_an_independent_library(
    api: httpx.AsyncClient, owner: dict[str, Any]
) -> None:
    """python-jose, knowing only the JWKS, accepts our tokens: other stacks can verify them too."""
    token = owner["access_token"]
    header = jose_jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    keys = (await api.get("/.well-known/jwks.json")).json()["keys"]
    key = next(key for key in keys if key["kid"] == header["kid"])

    claims = jose_jwt.decode(token, key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)

    assert claims["sub"] == owner["user"]["id"]
    assert claims["tid"] == owner["tenant"]["id"]
    assert claims["role"] == "owner"
    assert claims["typ"] == "access"
    assert claims["iat"] <= time.time() + 5 < claims["exp"]
    assert claims["exp"] - claims["iat"] == owner["expires_in"]
    assert claims["jti"]


async def test_an_issued_token_fails_independent_verification_for_another_audience(
    api: httpx.AsyncClient, owner: dict[str, Any]
) -> None:
    """Sanity check of the check above: jose really enforces the audience we gave it."""
    token = owner["access_token"]
    keys = (await api.get("/.well-known/jwks.json")).json()["keys"]
    key = next(key for key in keys if key["kid"] == jose_jwt.get_unverified_header(token)["kid"])
    with pytest.raises(jose_jwt.JWTClaimsError):
        jose_jwt.decode(token, key, algorithms=["RS256"], audience="someone-else", issuer=ISSUER)


async def test_the_issued_token_is_accepted(api: httpx.AsyncClient, owner: dict[str, Any]) -> None:
    """The baseline every refusal below is measured against."""
    response = await _me(api, owner["access_token"])
    assert response.status_code == 200, response.text
    assert response.json()["id"] == owner["user"]["id"]


async def test_a_hand_made_token_with_the_real_key_is_accepted(
    api: httpx.AsyncClient, owner: dict[str, Any], signing_key: rsa.RSAPrivateKey, signing_kid: str
) -> None:
    """Our hand-made tokens are right in every respect but the one each refusal test changes."""
    response = await _me(api, _sign(signing_key, signing_kid, _claims(owner)))
    assert response.status_code == 200, response.text


# --- forgeries -----------------------------------------------------------------------------------


async def test_no_token_is_refused(api: httpx.AsyncClient, owner: dict[str, Any]) -> None:
    """The route is not public, and a token under another scheme than Bearer does not count."""
    _assert_refused(await api.get(ME))
    _assert_refused(await api.get(ME, headers={"Authorization": f"Basic {owner['access_token']}"}))


async def test_alg_none_is_refused(api: httpx.AsyncClient, owner: dict[str, Any], signing_kid: str) -> None:
    """The classic: an unsigned token naming `none` as its algorithm."""
    header = {"alg": "none", "typ": "JWT", "kid": signing_kid}
    claims = _claims(owner)
    for token in (
        f"{_b64url_json(header)}.{_b64url_json(claims)}.",
        f"{_b64url_json(header)}.{_b64url_json(claims)}",
    ):
        _assert_refused(await _me(api, token))


async def test_hs256_signed_with_the_public_key_is_refused(
    api: httpx.AsyncClient, owner: dict[str, Any], jwks: dict[str, Any], signing_kid: str
) -> None:
    """Key confusion: HMAC keyed with the public PEM verifies if the verifier trusts the header's alg."""
    jwk = next(key for key in jwks["keys"] if key["kid"] == signing_kid)
    public_key = RSAAlgorithm.from_jwk(json.dumps(jwk))
    assert isinstance(public_key, rsa.RSAPublicKey)
    pems = [
        public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
    ]
    header = _b64url_json({"alg": "HS256", "typ": "JWT", "kid": signing_kid})
    payload = _b64url_json(_claims(owner))
    for pem in pems:
        signature = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        _assert_refused(await _me(api, f"{header}.{payload}.{_b64url(signature)}"))


async def test_a_role_raised_in_the_claims_is_refused(api: httpx.AsyncClient, viewer: dict[str, Any]) -> None:
    """A viewer rewriting `role` to owner while keeping the signature gets nothing."""
    token = viewer["access_token"]
    assert (await _me(api, token)).status_code == 200
    header, _, signature = token.split(".")
    claims = _unverified_claims(token)
    assert claims["role"] == "viewer"
    forged = f"{header}.{_b64url_json({**claims, 'role': 'owner'})}.{signature}"
    _assert_refused(await _me(api, forged))
    promote = await api.patch(
        f"/api/v1/users/{viewer['user']['id']}",
        json={"role": "owner"},
        headers={"Authorization": f"Bearer {forged}"},
    )
    _assert_refused(promote)


async def test_a_flipped_signature_bit_is_refused(api: httpx.AsyncClient, owner: dict[str, Any]) -> None:
    """The signature covers the token as sent; damage anywhere in it fails verification."""
    header, payload, signature = owner["access_token"].split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    _assert_refused(await _me(api, f"{header}.{payload}.{_b64url(bytes(raw))}"))


async def test_an_unknown_kid_is_refused(api: httpx.AsyncClient, owner: dict[str, Any]) -> None:
    """A token signed with the attacker's own key under a kid we never published."""
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    body = _assert_refused(await _me(api, _sign(attacker, f"attacker-{uuid.uuid4().hex}", _claims(owner))))
    assert "unknown signing key" in body["detail"]


async def test_another_key_under_our_kid_is_refused(
    api: httpx.AsyncClient, owner: dict[str, Any], signing_kid: str
) -> None:
    """Naming our kid does not help: the signature is checked against our key, not the header."""
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _assert_refused(await _me(api, _sign(attacker, signing_kid, _claims(owner))))


async def test_an_algorithm_that_does_not_match_the_key_is_refused(
    api: httpx.AsyncClient, owner: dict[str, Any], signing_kid: str
) -> None:
    """ES256 is allowed in general, but never with an RSA key's kid."""
    attacker = ec.generate_private_key(ec.SECP256R1())
    _assert_refused(await _me(api, _sign(attacker, signing_kid, _claims(owner), algorithm="ES256")))


async def test_a_token_without_kid_is_refused(
    api: httpx.AsyncClient, owner: dict[str, Any], signing_key: rsa.RSAPrivateKey
) -> None:
    """Without a kid the verifier cannot pick a key, so it must not guess one."""
    _assert_refused(await _me(api, jwt.encode(_claims(owner), signing_key, algorithm="RS256")))


def _forgeries(owner: dict[str, Any], jwks: dict[str, Any], signing_kid: str) -> dict[str, str]:
    """One of each forgery above, for the independent-library check below."""
    claims = _claims(owner)
    header_none = _b64url_json({"alg": "none", "typ": "JWT", "kid": signing_kid})
    jwk = next(key for key in jwks["keys"] if key["kid"] == signing_kid)
    public_key = RSAAlgorithm.from_jwk(json.dumps(jwk))
    assert isinstance(public_key, rsa.RSAPublicKey)
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header_hs = _b64url_json({"alg": "HS256", "typ": "JWT", "kid": signing_kid})
    payload = _b64url_json(claims)
    hs256 = f"{header_hs}.{payload}.{_b64url(hmac.new(pem, f'{header_hs}.{payload}'.encode(), hashlib.sha256).digest())}"
    genuine = owner["access_token"]
    header, body, signature = genuine.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    attacker_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "alg-none": f"{header_none}.{_b64url_json(claims)}.",
        "hs256-with-public-key": hs256,
        "raised-plan": f"{header}.{_b64url_json({**_unverified_claims(genuine), 'plan': 'enterprise'})}.{signature}",
        "flipped-bit": f"{header}.{body}.{_b64url(bytes(raw))}",
        "attacker-key-under-our-kid": _sign(attacker_rsa, signing_kid, claims),
        "es256-under-rsa-kid": _sign(ec.generate_private_key(ec.SECP256R1()), signing_kid, claims, "ES256"),
    }


async def test_every_forgery_is_refused_by_an_independent_library_too(
    api: httpx.AsyncClient, owner: dict[str, Any], jwks: dict[str, Any], signing_kid: str
) -> None:
    """python-jose, given only the published JWKS and told to accept RS256 alone, refuses each
    forgery the service refuses: our refusal is not an artefact of our own verifier."""
    assert jose_jwt.decode(
        owner["access_token"], jwks, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER
    )
    for forged in _forgeries(owner, jwks, signing_kid).values():
        _assert_refused(await _me(api, forged))
        with pytest.raises(JOSEError):
            jose_jwt.decode(forged, jwks, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "a.b", "e30.e30.e30", "x" * 4000])
async def test_garbage_is_refused(api: httpx.AsyncClient, token: str) -> None:
    """Whatever the bearer string, the answer is 401, never a 500."""
    _assert_refused(await _me(api, token))


# --- well signed, but not acceptable --------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": "another-api"}, "audience"),
        ({"aud": ["another-api", "yet-another"]}, "audience"),
        ({"iss": "evil-issuer"}, "issuer"),
        ({"exp": int(time.time()) - 120, "iat": int(time.time()) - 1020}, "expired"),
        ({"nbf": int(time.time()) + 3600}, "not yet valid"),
        ({"jti": None}, "jti"),
        ({"exp": None}, "exp"),
        ({"aud": None}, "aud"),
        ({"typ": None}, "typ"),
        ({"typ": "refresh"}, "refresh token cannot be used"),
        ({"tid": None}, "tenant"),
        ({"tid": "not-a-uuid"}, "tenant"),
    ],
    ids=[
        "wrong-aud",
        "wrong-aud-list",
        "wrong-iss",
        "expired",
        "not-yet-valid",
        "no-jti",
        "no-exp",
        "no-aud",
        "no-typ",
        "typ-refresh",
        "no-tenant",
        "bad-tenant",
    ],
)
async def test_a_genuinely_signed_but_unacceptable_token_is_refused(
    api: httpx.AsyncClient,
    owner: dict[str, Any],
    signing_key: rsa.RSAPrivateKey,
    signing_kid: str,
    overrides: dict[str, Any],
    reason: str,
) -> None:
    """Signed with the real key, so the only thing wrong is the one claim under test."""
    body = _assert_refused(await _me(api, _sign(signing_key, signing_kid, _claims(owner, **overrides))))
    assert reason in body["detail"].lower(), body["detail"]


async def test_a_refresh_token_is_not_a_bearer_token(api: httpx.AsyncClient, owner: dict[str, Any]) -> None:
    """The opaque refresh token only works at /auth/refresh, never as an access token."""
    assert owner["refresh_token"].startswith("rt_")
    _assert_refused(await _me(api, owner["refresh_token"]))


async def test_a_hand_made_service_token_is_forbidden_on_user_routes(
    api: httpx.AsyncClient, signing_key: rsa.RSAPrivateKey, signing_kid: str, owner: dict[str, Any]
) -> None:
    """A valid service token is authenticated (so not 401) but has no user, so /users/me is 403."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "sub": "campaign_management",
        "scope": "users:read tenant:read",
        "typ": "service",
    }
    token = _sign(signing_key, signing_kid, claims)
    for headers in ({}, {"X-Tenant-ID": owner["tenant"]["id"]}):
        response = await api.get(ME, headers={"Authorization": f"Bearer {token}", **headers})
        body = assert_problem(response, 403)
        assert body["detail"] == "service tokens cannot use this operation"


async def test_an_issued_service_token_is_forbidden_on_user_routes(
    api: httpx.AsyncClient, stack: Stack, owner: dict[str, Any]
) -> None:
    """The same with a service token the service itself issued by client credentials."""
    account = json.loads(stack.env("user_management")["SERVICE_ACCOUNTS"])[0]
    issued = await api.post(
        "/api/v1/auth/service-token",
        data={
            "grant_type": "client_credentials",
            "client_id": account["client_id"],
            "client_secret": account["secret"],
        },
    )
    assert issued.status_code == 200, issued.text
    token = issued.json()["access_token"]
    assert _unverified_claims(token)["typ"] == "service"
    response = await api.get(
        ME, headers={"Authorization": f"Bearer {token}", "X-Tenant-ID": owner["tenant"]["id"]}
    )
    assert_problem(response, 403)


# --- the account behind the token ----------------------------------------------------------------


@pytest.mark.parametrize("same_tenant", [True, False], ids=["owners-tenant", "unknown-tenant"])
async def test_a_valid_token_for_a_user_that_does_not_exist_is_refused(
    api: httpx.AsyncClient,
    owner: dict[str, Any],
    signing_key: rsa.RSAPrivateKey,
    signing_kid: str,
    same_tenant: bool,
) -> None:
    """A perfect signature is not enough: the account must exist and be active."""
    tenant = owner["tenant"]["id"] if same_tenant else str(uuid.uuid4())
    token = _sign(signing_key, signing_kid, _claims(owner, sub=str(uuid.uuid4()), tid=tenant))
    body = _assert_refused(await _me(api, token))
    assert "no longer active" in body["detail"]


async def test_a_token_whose_subject_is_not_a_user_id_is_refused(
    api: httpx.AsyncClient, owner: dict[str, Any], signing_key: rsa.RSAPrivateKey, signing_kid: str
) -> None:
    """A malformed subject is a bad token (401), not a crash (500)."""
    token = _sign(signing_key, signing_kid, _claims(owner, sub="not-a-uuid"))
    _assert_refused(await _me(api, token))
