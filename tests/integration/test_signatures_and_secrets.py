"""The pure security rules of integration, in microseconds: webhook signatures (Stripe signed by the
official library's own helper, Meta, Mautic) and envelope encryption of connection credentials,
including a master-key rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

import pytest
import stripe
from hypothesis import given
from hypothesis import strategies as st

from services.integration.domain import secrets_box as box
from services.integration.domain.secrets_box import MasterKeys, UndecryptableSecret, WrappedKey
from services.integration.domain.signatures import (
    BadSignature,
    verify_mautic,
    verify_meta,
    verify_stripe,
    verify_subscription,
)

NOW = 1_760_000_000
STRIPE_SECRET = "whsec_current"
PAYLOAD = '{"id":"evt_1","type":"invoice.paid","data":{"object":{"amount_paid":4200}}}'
BODY = PAYLOAD.encode()


def stripe_header(payload: str = PAYLOAD, secret: str = STRIPE_SECRET, timestamp: int = NOW) -> str:
    """Signed by the stripe library itself, so our check agrees with what Stripe sends."""
    return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp)


def refusal(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(BadSignature) as caught:
        call(*args, **kwargs)
    return caught.value.reason


# --- Stripe ---------------------------------------------------------------------------------------


def test_stripe_accepts_what_the_stripe_library_signs() -> None:
    verify_stripe(BODY, stripe_header(), [STRIPE_SECRET], now=NOW + 299)
    stripe.WebhookSignature.verify_header(PAYLOAD, stripe_header(), STRIPE_SECRET)  # the library agrees


def test_stripe_accepts_a_non_ascii_body() -> None:
    payload = '{"description":"Müller, café ☕"}'
    verify_stripe(payload.encode(), stripe_header(payload), [STRIPE_SECRET], now=NOW)


@pytest.mark.parametrize(
    ("body", "header", "secrets", "now", "reason"),
    [
        (BODY + b" ", stripe_header(), [STRIPE_SECRET], NOW, "mismatch"),
        (BODY, stripe_header(), ["whsec_other"], NOW, "mismatch"),
        (BODY, stripe_header(), [STRIPE_SECRET], NOW + 301, "tolerance"),
        (BODY, stripe_header(), [STRIPE_SECRET], NOW - 301, "tolerance"),  # from the future
        (BODY, None, [STRIPE_SECRET], NOW, "missing"),
        (BODY, "", [STRIPE_SECRET], NOW, "missing"),
        (BODY, "garbage", [STRIPE_SECRET], NOW, "malformed"),
        (BODY, f"v1={'0' * 64}", [STRIPE_SECRET], NOW, "malformed"),  # no timestamp
        (BODY, f"t=soon,v1={'0' * 64}", [STRIPE_SECRET], NOW, "malformed"),
        (BODY, f"t={NOW},t={NOW},v1={'0' * 64}", [STRIPE_SECRET], NOW, "malformed"),
        (BODY, f"t={NOW},v0={'0' * 64}", [STRIPE_SECRET], NOW, "no v1"),
        (BODY, stripe_header(), [], NOW, "no webhook secret"),
        (BODY, stripe_header(secret=""), [""], NOW, "no webhook secret"),
    ],
)
def test_stripe_refuses(body: bytes, header: str | None, secrets: list[str], now: float, reason: str) -> None:
    said = refusal(verify_stripe, body, header, secrets, now=now)
    assert reason in said
    for secret in [*secrets, STRIPE_SECRET]:
        assert not secret or secret not in said
    expected = hmac.new(STRIPE_SECRET.encode(), f"{NOW}.{PAYLOAD}".encode(), hashlib.sha256).hexdigest()
    assert expected not in said


def test_stripe_accepts_one_valid_signature_among_several() -> None:
    valid = stripe_header().split(",v1=")[1]
    header = f"t={NOW},v1={'ab' * 32},v1={valid},v0={'cd' * 32}"
    verify_stripe(BODY, header, [STRIPE_SECRET], now=NOW)


def test_stripe_accepts_any_secret_of_a_rotation() -> None:
    """Mid-rotation Stripe may sign with the new secret only; both configured, both accepted."""
    for signer in ("whsec_old", "whsec_new"):
        verify_stripe(BODY, stripe_header(secret=signer), ["whsec_new", "whsec_old"], now=NOW)


def test_stripe_refuses_a_non_ascii_signature_without_crashing() -> None:
    assert "mismatch" in refusal(verify_stripe, BODY, f"t={NOW},v1=é", [STRIPE_SECRET], now=NOW)


# --- Meta and Mautic ------------------------------------------------------------------------------

META_SECRET = "meta-app-secret"
MAUTIC_SECRET = "mautic-webhook-secret"


def meta_header(body: bytes, secret: str = META_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def mautic_header(body: bytes, secret: str = MAUTIC_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_meta_accepts_a_valid_signature_and_refuses_the_rest() -> None:
    verify_meta(BODY, meta_header(BODY), META_SECRET)
    assert "mismatch" in refusal(verify_meta, BODY + b"x", meta_header(BODY), META_SECRET)
    assert "mismatch" in refusal(verify_meta, BODY, meta_header(BODY, "other"), META_SECRET)
    assert "missing" in refusal(verify_meta, BODY, None, META_SECRET)
    assert "malformed" in refusal(verify_meta, BODY, meta_header(BODY).replace("sha256", "sha1"), META_SECRET)
    assert "malformed" in refusal(verify_meta, BODY, "sha256=", META_SECRET)


def test_meta_subscription_handshake() -> None:
    assert verify_subscription("subscribe", "tok", "1158201444", expected_token="tok") == "1158201444"
    assert "mode" in refusal(verify_subscription, "unsubscribe", "tok", "1", expected_token="tok")
    assert "verify_token" in refusal(verify_subscription, "subscribe", "nope", "1", expected_token="tok")
    assert "verify_token" in refusal(verify_subscription, "subscribe", None, "1", expected_token="tok")
    assert "challenge" in refusal(verify_subscription, "subscribe", "tok", None, expected_token="tok")
    assert "configured" in refusal(verify_subscription, "subscribe", "", "1", expected_token="")


def test_mautic_accepts_a_valid_signature_and_refuses_the_rest() -> None:
    verify_mautic(BODY, mautic_header(BODY), MAUTIC_SECRET)
    assert "mismatch" in refusal(verify_mautic, BODY + b"x", mautic_header(BODY), MAUTIC_SECRET)
    assert "mismatch" in refusal(verify_mautic, BODY, mautic_header(BODY, "other"), MAUTIC_SECRET)
    assert "missing" in refusal(verify_mautic, BODY, None, MAUTIC_SECRET)
    assert "malformed" in refusal(verify_mautic, BODY, "not base64!", MAUTIC_SECRET)


# --- Envelope encryption --------------------------------------------------------------------------

TENANT = str(uuid.uuid4())
CONNECTION = str(uuid.uuid4())
CREDENTIALS = {"refresh_token": "1//0g-very-secret-refresh-token", "developer_token": "dev-tok-123"}
K1 = MasterKeys.generate("k1")
DATA_KEY, WRAPPED = box.new_data_key(K1, TENANT)
SEALED = box.seal(DATA_KEY, TENANT, CONNECTION, CREDENTIALS)


def test_round_trip_through_the_wrapped_key() -> None:
    data_key = box.unwrap(K1, TENANT, WRAPPED)
    assert box.open_sealed(data_key, TENANT, CONNECTION, SEALED) == CREDENTIALS


def test_the_sealed_blob_does_not_show_the_plaintext() -> None:
    for secret in CREDENTIALS.values():
        assert secret.encode() not in SEALED
        assert base64.b64encode(secret.encode()) not in SEALED
        assert secret.encode() not in base64.b64decode(base64.b64encode(SEALED))
    assert json.dumps(CREDENTIALS).encode() not in SEALED


def test_a_sealed_secret_opens_only_for_its_tenant_and_connection() -> None:
    with pytest.raises(UndecryptableSecret):
        box.open_sealed(DATA_KEY, str(uuid.uuid4()), CONNECTION, SEALED)
    with pytest.raises(UndecryptableSecret):
        box.open_sealed(DATA_KEY, TENANT, str(uuid.uuid4()), SEALED)
    other_key, _ = box.new_data_key(K1, TENANT)
    with pytest.raises(UndecryptableSecret) as caught:
        box.open_sealed(other_key, TENANT, CONNECTION, SEALED)
    assert not any(secret in str(caught.value) for secret in CREDENTIALS.values())


def test_a_wrapped_key_opens_only_for_its_tenant() -> None:
    with pytest.raises(UndecryptableSecret) as caught:
        box.unwrap(K1, str(uuid.uuid4()), WRAPPED)
    assert DATA_KEY.hex() not in str(caught.value)


def test_uuid_and_string_ids_bind_alike() -> None:
    assert box.open_sealed(DATA_KEY, uuid.UUID(TENANT), uuid.UUID(CONNECTION), SEALED) == CREDENTIALS
    assert box.unwrap(K1, uuid.UUID(TENANT), WRAPPED) == DATA_KEY


def test_master_key_rotation_rewraps_without_touching_sealed_secrets() -> None:
    k2 = MasterKeys.generate("k2")
    rotated = MasterKeys.parse(f"{k2.to_config()},{K1.to_config()}")
    assert rotated.current_id == "k2"
    assert box.unwrap(rotated, TENANT, WRAPPED) == DATA_KEY  # the old key still opens meanwhile

    rewrapped = box.rewrap(rotated, TENANT, WRAPPED)
    assert rewrapped.key_id == "k2"
    assert box.rewrap(rotated, TENANT, rewrapped) is rewrapped  # already current: unchanged
    assert box.open_sealed(box.unwrap(rotated, TENANT, rewrapped), TENANT, CONNECTION, SEALED) == CREDENTIALS

    k1_dropped = MasterKeys.parse(k2.to_config())
    with pytest.raises(UndecryptableSecret, match="k1"):
        box.unwrap(k1_dropped, TENANT, WRAPPED)
    assert (
        box.open_sealed(box.unwrap(k1_dropped, TENANT, rewrapped), TENANT, CONNECTION, SEALED) == CREDENTIALS
    )


def test_reprs_show_no_key_bytes() -> None:
    key_text = K1.to_config().split(":", 1)[1]
    assert key_text not in repr(K1)
    assert repr(K1) == "MasterKeys(current='k1', known=('k1',))"
    assert WRAPPED.blob.hex() not in repr(WRAPPED)
    assert repr(WRAPPED) == f"WrappedKey(key_id='k1', blob=<{len(WRAPPED.blob)} bytes>)"


SHORT_KEY = base64.b64encode(b"sixteen byte key").decode()
GOOD_KEY = base64.b64encode(b"K" * 32).decode()
OTHER_KEY = base64.b64encode(b"L" * 32).decode()


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("", "comma-separated"),
        (f"k1:{GOOD_KEY},", "none empty"),
        (GOOD_KEY, "entry 1 is not of the form"),
        (f"k1:{GOOD_KEY},{SHORT_KEY}", "entry 2 is not of the form"),
        (f"bad id:{GOOD_KEY}", "invalid id"),
        (f"k1:{GOOD_KEY[:-3]}!!!", "not valid base64"),
        (f"k1:{SHORT_KEY}", "32 bytes, not 16"),
        (f"k1:{GOOD_KEY},k1:{GOOD_KEY}", "appears twice"),
    ],
)
def test_malformed_master_configuration_is_named_without_key_text(spec: str, problem: str) -> None:
    with pytest.raises(ValueError) as caught:
        MasterKeys.parse(spec)
    message = str(caught.value)
    assert problem in message
    for secret in (GOOD_KEY, GOOD_KEY[:-3], SHORT_KEY, "K" * 32, "sixteen"):
        assert secret not in message
    assert caught.value.__cause__ is None


def test_master_configuration_round_trips() -> None:
    keys = MasterKeys.parse(f" k2:{GOOD_KEY} , k1:{OTHER_KEY}")
    assert keys.key_ids == ("k2", "k1")
    assert keys.current_key == b"K" * 32
    assert MasterKeys.parse(keys.to_config()).key_ids == ("k2", "k1")


def test_unknown_formats_are_undecryptable() -> None:
    with pytest.raises(UndecryptableSecret, match="format"):
        box.open_sealed(DATA_KEY, TENANT, CONNECTION, b"\x02" + SEALED[1:])
    with pytest.raises(UndecryptableSecret, match="format"):
        box.open_sealed(DATA_KEY, TENANT, CONNECTION, SEALED[:10])
    with pytest.raises(UndecryptableSecret):
        box.unwrap(K1, TENANT, WrappedKey("k1", WRAPPED.blob[:20]))


@given(st.dictionaries(st.text(), st.text(), max_size=8), st.text(min_size=1), st.text(min_size=1))
def test_any_dict_of_strings_round_trips(plaintext: dict[str, str], tenant: str, connection: str) -> None:
    sealed = box.seal(DATA_KEY, tenant, connection, plaintext)
    assert box.open_sealed(DATA_KEY, tenant, connection, sealed) == plaintext


@given(st.data())
def test_any_single_byte_change_of_the_blob_fails(data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(SEALED) - 1), label="position")
    flip = data.draw(st.integers(1, 255), label="xor")
    tampered = bytearray(SEALED)
    tampered[position] ^= flip
    with pytest.raises(UndecryptableSecret):
        box.open_sealed(DATA_KEY, TENANT, CONNECTION, bytes(tampered))
