"""Keys and sealing. One 32-byte vault key; subkeys for chunk ids and for encryption.

Chunk ids are BLAKE3 keyed with the id subkey, so ids reveal nothing about the data to someone
without the key. Every stored object is zstd-compressed, then sealed with AES-256-GCM under a
random 96-bit nonce, with the object's kind and name as associated data, so a blob moved to
another place fails its check instead of decrypting as something else.
"""

import os
import threading

import blake3
import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from repository.errors import DamagedData

KEY_SIZE = 32
NONCE_SIZE = 12
ID_SIZE = 32
ZERO_ID = bytes(ID_SIZE)  # marks an all-zero chunk: stored nowhere, restored as a hole


def new_key():
    return os.urandom(KEY_SIZE)


class Keys:
    def __init__(self, vault_key):
        if len(vault_key) != KEY_SIZE:
            raise ValueError("a vault key has 32 bytes")
        self.id_key = blake3.blake3(vault_key, derive_key_context="vaultline 2026 chunk id").digest()
        enc_key = blake3.blake3(vault_key, derive_key_context="vaultline 2026 encryption").digest()
        self._aead = AESGCM(enc_key)
        self._local = threading.local()  # zstd contexts are not thread-safe, and costly to make

    def chunk_id(self, data):
        return blake3.blake3(data, key=self.id_key, max_threads=1).digest()

    def _zstd(self):
        if not hasattr(self._local, "compressor"):
            self._local.compressor = zstandard.ZstdCompressor(level=3)
            self._local.decompressor = zstandard.ZstdDecompressor()
        return self._local

    def seal(self, data, context, compress=True):
        payload = self._zstd().compressor.compress(data) if compress else data
        nonce = os.urandom(NONCE_SIZE)
        return nonce + self._aead.encrypt(nonce, payload, context)

    def open(self, sealed, context, compressed=True):
        try:
            payload = self._aead.decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], context)
        except (InvalidTag, ValueError):
            raise DamagedData("an object failed its integrity check (damaged, moved or wrong key)") from None
        return self._zstd().decompressor.decompress(payload) if compressed else payload
