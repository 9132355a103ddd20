"""Keys and sealing. One 32-byte vault key; subkeys for chunk ids and for encryption.

Chunk ids are BLAKE3 keyed with the id subkey, so ids reveal nothing about the data to someone
without the key. Every stored object is zstd-compressed, then sealed with AES-256-GCM under a
random 96-bit nonce, with the object's kind and name as associated data, so a blob moved to
another place fails its check instead of decrypting as something else.

Incompressible data (random, already compressed or encrypted) costs zstd time for nothing, so a
chunk whose start, middle and end (PROBE bytes each, compressed together) do not compress is put in a
zstd frame of raw (stored) blocks at once: still an ordinary zstd frame, read back by the same
decompressor. Every call into zstd, BLAKE3 or AES lets the other threads run and costs a hand-over
of the GIL, so the three probes are one call.
"""

import os
import struct
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
PROBE = 4096  # bytes compressed at three places to judge whether a chunk is worth compressing
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZSTD_MAX_BLOCK = 128 * 1024


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

    def _compress(self, data):
        compressor = self._zstd().compressor
        if len(data) > 4 * PROBE:
            # The three probes in one call (each call lets the other threads in and out): if none of
            # them compresses, neither does their sum, give or take zstd's own few bytes.
            probes = b"".join(data[at:at + PROBE] for at in (0, len(data) // 2, len(data) - PROBE))
            if len(compressor.compress(probes)) >= len(probes):
                return raw_zstd_frame(data)
        return compressor.compress(data)

    def seal(self, data, context, compress=True):
        payload = self._compress(data) if compress else data
        nonce = os.urandom(NONCE_SIZE)
        return nonce + self._aead.encrypt(nonce, payload, context)

    def open(self, sealed, context, compressed=True):
        try:
            payload = self._aead.decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], context)
        except (InvalidTag, ValueError):
            raise DamagedData("an object failed its integrity check (damaged, moved or wrong key)") from None
        return self._zstd().decompressor.decompress(payload) if compressed else payload


def raw_zstd_frame(data):
    """A zstd frame (RFC 8878) holding `data` uncompressed: single segment, 4-byte content size,
    raw blocks of at most 128 KiB, no checksum (AES-GCM checks everything)."""
    if len(data) >= 2 ** 32:
        raise ValueError("too big for one frame")
    parts = [ZSTD_MAGIC, bytes([0xA0]), struct.pack("<I", len(data))]  # 0xA0: single segment, 4-byte size
    starts = range(0, len(data), ZSTD_MAX_BLOCK) or [0]
    for start in starts:
        block = data[start:start + ZSTD_MAX_BLOCK]
        last = start + ZSTD_MAX_BLOCK >= len(data)
        parts += [((len(block) << 3) | int(last)).to_bytes(3, "little"), block]  # block type 0: raw
    return b"".join(parts)
