"""Packs and chunk lists as stored: a pack's header entries, a chunk-list piece's ids, where a pack
lives, and how neighbouring chunks of a pack are grouped into ranged reads.

A chunk-list piece (stored as lists/<id>) holds the ids of up to PIECE_CHUNKS consecutive chunks of
one disk; a disk's manifest entry names its pieces in order ("lists") and their size ("piece").
"""

import functools
import struct

from repository.crypto import ID_SIZE

ENTRY = struct.Struct("<32sQI")  # chunk id, offset in pack, sealed length
PIECE_CHUNKS = 16384  # ids per chunk-list piece: 512 KiB of ids for 1 GiB of disk
READ_GAP = 1024 * 1024  # chunks of one pack this close together are fetched in one ranged read
RUN_CHUNKS = 128  # at most this many chunks per ranged read: one thread's share of a restore


def encode_entries(entries):
    return b"".join(ENTRY.pack(chunk_id, offset, length) for chunk_id, offset, length in entries)


def decode_entries(data):
    return [ENTRY.unpack_from(data, at) for at in range(0, len(data), ENTRY.size)]


def split_ids(data):
    return [data[at:at + ID_SIZE] for at in range(0, len(data), ID_SIZE)]


def pack_path(pack):
    return f"packs/{pack[:2]}/{pack}"


def piece_size(disk):
    """Chunk ids per piece of this disk's chunk list (each disk entry records its own)."""
    return disk.get("piece", PIECE_CHUNKS)


def runs(entries):
    """Split (offset, length, …) entries of one pack, sorted by offset, into runs of at most RUN_CHUNKS
    that lie close enough together to fetch with one ranged read each."""
    run = []
    for entry in entries:
        if run and (entry[0] - (run[-1][0] + run[-1][1]) > READ_GAP or len(run) == RUN_CHUNKS):
            yield run
            run = []
        run.append(entry)
    if run:
        yield run


@functools.lru_cache(maxsize=8)
def _zeros(length):
    return bytes(length)


def all_zero(data):
    """A memcmp against zeros: stops at the first non-zero byte (bytes.count(0) reads all of them)."""
    return data == _zeros(len(data))
