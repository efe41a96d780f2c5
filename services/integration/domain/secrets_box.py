"""Envelope encryption of connection credentials (OAuth tokens, API keys, webhook secrets).

A leaked database dump must not leak a tenant's Google Ads refresh token, so credentials are
sealed with AES-256-GCM under a per-tenant *data key*, and only the data key, *wrapped* under a
master key from configuration, is stored next to them. Two bindings stop copy-paste attacks on
the rows: a wrapped data key carries the tenant id as associated data (it opens for no other
tenant), and a sealed credential carries tenant id and connection id (moving it to another
connection makes it undecryptable, rather than silently lending one account's token to another).

Master-key rotation needs no downtime: configure ``"k2:<new>,k1:<old>"``; new data keys are
wrapped under k2 while k1 still opens the old ones; a background job calls `rewrap` on every
stored key (the sealed credentials never change); once none names k1, drop it from configuration.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
SEAL_VERSION = 1
Id = str | UUID  # tenant and connection ids: UUIDs in the database, strings in tests
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class UndecryptableSecret(Exception):
    """A wrapped key or sealed secret did not open. The message names what and under which key id,
    never key or plaintext bytes, so it is safe to log."""


class MasterKeys:
    """The master keys from configuration: one current key (wraps new data keys) plus older ones
    kept only so data keys wrapped before a rotation still open until they are rewrapped."""

    __slots__ = ("_keys", "current_id")

    def __init__(self, current_id: str, keys: Mapping[str, bytes]) -> None:
        if current_id not in keys:
            raise ValueError(f"current master key id {current_id!r} has no key")
        for key_id, key in keys.items():
            if not _KEY_ID.fullmatch(key_id):
                raise ValueError("master key ids must be 1-64 letters, digits, '_', '.' or '-'")
            if len(key) != KEY_BYTES:
                raise ValueError(f"master key {key_id!r} must be {KEY_BYTES} bytes")
        self.current_id = current_id
        # current first, so that `to_config` round-trips
        self._keys = {current_id: keys[current_id], **{k: v for k, v in keys.items() if k != current_id}}

    @classmethod
    def parse(cls, spec: str) -> MasterKeys:
        """From ``"k2:<base64 32 bytes>,k1:<base64 32 bytes>"``, the first one current. Errors
        name the entry by position (and id, once valid) but never echo key text."""
        entries = [entry.strip() for entry in spec.split(",")]
        if not spec.strip() or not all(entries):
            raise ValueError("master keys must be a comma-separated list of <id>:<base64 key>, none empty")
        keys: dict[str, bytes] = {}
        for position, entry in enumerate(entries, start=1):
            key_id, key = _parse_entry(position, entry)
            if key_id in keys:
                raise ValueError(f"master key id {key_id!r} appears twice")
            keys[key_id] = key
        return cls(next(iter(keys)), keys)

    @classmethod
    def generate(cls, key_id: str = "k1") -> MasterKeys:
        """A fresh random master key, for the dev stack and tests (production keys come from a
        secret store)."""
        return cls(key_id, {key_id: AESGCM.generate_key(bit_length=256)})

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    @property
    def current_key(self) -> bytes:
        return self._keys[self.current_id]

    def key(self, key_id: str) -> bytes | None:
        return self._keys.get(key_id)

    def to_config(self) -> str:
        """The configuration string `parse` reads; it holds key material, so write it only to a
        secret store or a dev-stack env file."""
        return ",".join(f"{k}:{base64.b64encode(v).decode('ascii')}" for k, v in self._keys.items())

    def __repr__(self) -> str:
        return f"MasterKeys(current={self.current_id!r}, known={self.key_ids!r})"


def _parse_entry(position: int, entry: str) -> tuple[str, bytes]:
    key_id, colon, text = entry.partition(":")
    if not colon:
        raise ValueError(f"master key entry {position} is not of the form <id>:<base64 key>")
    key_id = key_id.strip()
    if not _KEY_ID.fullmatch(key_id):
        raise ValueError(f"master key entry {position} has an invalid id (letters, digits, '_', '.', '-')")
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = None
    if key is None:  # raised outside the except so no traceback carries the decoder's error
        raise ValueError(f"master key {key_id!r} is not valid base64")
    if len(key) != KEY_BYTES:
        raise ValueError(f"master key {key_id!r} must decode to {KEY_BYTES} bytes, not {len(key)}")
    return key_id, key


@dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted under the master key `key_id`: nonce + AES-GCM ciphertext and tag.
    Stored per tenant; the id says which master key opens it (and whether it needs a rewrap)."""

    key_id: str
    blob: bytes

    def __repr__(self) -> str:
        return f"WrappedKey(key_id={self.key_id!r}, blob=<{len(self.blob)} bytes>)"


def _tenant_ad(tenant_id: Id) -> bytes:
    return b"tenant:" + str(tenant_id).encode("utf-8")


def _wrap(masters: MasterKeys, tenant_id: Id, data_key: bytes) -> WrappedKey:
    nonce = os.urandom(NONCE_BYTES)
    blob = nonce + AESGCM(masters.current_key).encrypt(nonce, data_key, _tenant_ad(tenant_id))
    return WrappedKey(masters.current_id, blob)


def new_data_key(masters: MasterKeys, tenant_id: Id) -> tuple[bytes, WrappedKey]:
    """A fresh data key for a tenant: the plain key (use, never store) and its wrapped form (store)."""
    data_key = AESGCM.generate_key(bit_length=256)
    return data_key, _wrap(masters, tenant_id, data_key)


def unwrap(masters: MasterKeys, tenant_id: Id, wrapped: WrappedKey) -> bytes:
    """The plain data key, if `wrapped` was made for this tenant under a configured master key."""
    master = masters.key(wrapped.key_id)
    if master is None:
        raise UndecryptableSecret(f"master key {wrapped.key_id!r} is not configured")
    nonce, ciphertext = wrapped.blob[:NONCE_BYTES], wrapped.blob[NONCE_BYTES:]
    try:
        data_key = AESGCM(master).decrypt(nonce, ciphertext, _tenant_ad(tenant_id))
    except (InvalidTag, ValueError):
        data_key = None
    if data_key is None or len(data_key) != KEY_BYTES:
        raise UndecryptableSecret(f"wrapped data key does not open for this tenant under {wrapped.key_id!r}")
    return data_key


def needs_rewrap(masters: MasterKeys, wrapped: WrappedKey) -> bool:
    """Whether a stored key still names an older master key (what the rotation job looks for)."""
    return wrapped.key_id != masters.current_id


def rewrap(masters: MasterKeys, tenant_id: Id, wrapped: WrappedKey) -> WrappedKey:
    """The same data key wrapped under the current master key; sealed secrets stay valid as they are."""
    if not needs_rewrap(masters, wrapped):
        return wrapped
    return _wrap(masters, tenant_id, unwrap(masters, tenant_id, wrapped))


def _sealed_ad(tenant_id: Id, connection_id: Id) -> bytes:
    # JSON keeps the binding unambiguous whatever characters the ids hold
    bound = json.dumps({"tenant": str(tenant_id), "connection": str(connection_id)}, sort_keys=True)
    return bytes([SEAL_VERSION]) + bound.encode("utf-8")


def _aead(data_key: bytes) -> AESGCM:
    if len(data_key) != KEY_BYTES:
        raise ValueError(f"data keys are {KEY_BYTES} bytes")
    return AESGCM(data_key)


def seal(data_key: bytes, tenant_id: Id, connection_id: Id, plaintext: dict[str, Any]) -> bytes:
    """A connection's credentials as ``version byte + nonce + ciphertext``, bound to its tenant and
    connection. The version byte lets a later format coexist with rows sealed by this one."""
    body = json.dumps(plaintext, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = _aead(data_key).encrypt(nonce, body.encode("utf-8"), _sealed_ad(tenant_id, connection_id))
    return bytes([SEAL_VERSION]) + nonce + ciphertext


def open_sealed(data_key: bytes, tenant_id: Id, connection_id: Id, blob: bytes) -> dict[str, Any]:
    """The credentials `seal` made for this tenant and connection, or UndecryptableSecret."""
    if len(blob) < 1 + NONCE_BYTES + 16 or blob[0] != SEAL_VERSION:
        raise UndecryptableSecret("sealed secret has an unknown format")
    nonce, ciphertext = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    try:
        body = _aead(data_key).decrypt(nonce, ciphertext, _sealed_ad(tenant_id, connection_id))
    except InvalidTag:
        body = None
    if body is None:
        raise UndecryptableSecret("sealed secret does not open under this key for this tenant and connection")
    value = _json_object(body)
    if value is None:  # raised outside any except: a JSON error would quote the plaintext
        raise UndecryptableSecret("sealed secret is not a JSON object")
    return value


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
