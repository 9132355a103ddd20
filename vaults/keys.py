"""Vault keys at rest. A vault's key opens its backups (with the repository, without the portal), so
the database never holds it in the clear: each is wrapped (AES-256-GCM, the vault's uuid as
associated data) by a key-encryption key that comes from the environment
(VAULTLINE_KEY_ENCRYPTION_KEY or its _FILE) or, where none is given, from var/key_encryption_key,
generated once with mode 0600. A wrapped key names the key-encryption key that wrapped it, so
`manage.py rotate_key_encryption_key` can move every vault to a new one.

    v1:<id of the key-encryption key>:<base64 of nonce + sealed vault key>
"""

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from portal.env import key_encryption_keys

PREFIX = "v1"


class KeyUnavailable(Exception):
    """A vault key cannot be unwrapped: its key-encryption key is not configured, or it is damaged."""


def key_id(kek):
    return hashlib.blake2b(kek, digest_size=8, person=b"vaultline-kek").hexdigest()


def _aad(vault_uuid):
    return f"vaultline vault key {vault_uuid}".encode()


def configured():
    """The key-encryption keys, the current first, read afresh each time (a small file, or the
    environment): a key rotated by another process is the one this process wraps with next."""
    return key_encryption_keys(settings.KEY_ENCRYPTION_KEY_FILE)


def wrap(vault_uuid, vault_key, kek=None):
    kek = kek or configured()[0]
    nonce = os.urandom(12)
    sealed = AESGCM(kek).encrypt(nonce, vault_key, _aad(vault_uuid))
    return f"{PREFIX}:{key_id(kek)}:{base64.b64encode(nonce + sealed).decode()}"


def unwrap(vault_uuid, wrapped, keks=None):
    """The vault key, unwrapped by whichever configured key-encryption key wrapped it."""
    keks = configured() if keks is None else keks
    try:
        prefix, wanted, body = wrapped.split(":")
        raw = base64.b64decode(body, validate=True)
    except ValueError:
        raise KeyUnavailable("the vault's key is not wrapped in a known format") from None
    kek = next((kek for kek in keks if key_id(kek) == wanted), None) if prefix == PREFIX else None
    if kek is None:
        raise KeyUnavailable(f"the vault's key was wrapped by key-encryption key {wanted}, which is not configured"
                             " (VAULTLINE_KEY_ENCRYPTION_KEY, VAULTLINE_PREVIOUS_KEY_ENCRYPTION_KEYS)")
    try:
        return AESGCM(kek).decrypt(raw[:12], raw[12:], _aad(vault_uuid))
    except InvalidTag:
        raise KeyUnavailable("the vault's wrapped key is damaged") from None
