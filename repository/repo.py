"""The vault repository: content-addressed, deduplicated, compressed and encrypted chunks in packs.

    config                 format, chunk size, and a sealed key check (plain JSON: says how to read the rest)
    packs/<xx>/<pack>      sealed chunks, then a sealed header listing them, then the header's length
    index/<pack>           a sealed copy of that pack's header: which chunks the pack holds, and where
    lists/<list>           a sealed piece of a disk's chunk list: the ids of up to SEGMENT_CHUNKS chunks
    points/<point>         a sealed recovery-point manifest: VM configuration, disks, their chunk lists' names
    locks/writer           who is writing (host, pid, when)
    damaged/<mark>         what verify or a read found damaged (see damage.py)

A backup writes packs, then each pack's index, then the chunk lists, then the manifest last: a crash
leaves no half recovery point, only packs whose chunks the next backup finds in the index and reuses.
Disks are cut into fixed-size aligned chunks (see bench/chunking.py for why); an all-zero chunk
is stored nowhere and restored as a hole.

Memory stays flat whatever the disk size: a disk's chunk list is kept in pieces of SEGMENT_CHUNKS ids
(a piece no chunk changed is shared with the previous point, as it is), and the index of stored chunks
is a SQLite file (index.py), not a dict. Work goes one piece of the chunk list at a time.
"""

import base64
import collections
import contextlib
import errno
import functools
import json
import mmap
import os
import queue
import shutil
import socket
import struct
import tempfile
import threading
import time
import uuid
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from repository.chunking import ceil_div, file_chunks
from repository.crypto import ID_SIZE, ZERO_ID, Keys
from repository.damage import NO_PACK, DamageMarks
from repository.errors import DamagedData, PointNotFound, RepositoryError, RepositoryLocked, WrongKey
from repository.index import ChunkIndex
from repository.layout import LIST_NAME, now
from repository.storage import ObjectMissing

FORMAT_VERSION = 1
DEFAULT_CHUNK_SIZE = 64 * 1024
PACK_TARGET_SIZE = 16 * 1024 * 1024
PACK_MAX_CHUNKS = 4096  # very compressible chunks fill a pack by count first: bounds what is kept per pack
REPACK_BELOW = 0.5  # prune repacks a pack whose live chunks are less than this share of its bytes
REPACK_BATCH = 16  # packs repacked between two flushes
SEGMENT_CHUNKS = 16384  # ids per chunk-list piece: 512 KiB of ids for 1 GiB of disk
READ_GAP = 1024 * 1024  # chunks of one pack this close together are fetched in one ranged read
RUN_CHUNKS = 128  # at most this many chunks per ranged read: one thread's share of a restore
WRITE_SIZE = 1024 * 1024  # a restore writes neighbouring chunks together, up to this much at once
LOCK_NAME = "locks/writer"
LOCK_STALE_AFTER = 30 * 60  # seconds without a refresh
LOCK_REFRESH = 60  # a writer's timer thread refreshes its lock this often
LEFTOVER_AGE = 60  # seconds: an older temporary file was left by a writer that died (a lock breaker's lasts ms)
BATCH = 16  # chunks handed to a worker thread at once: fewer hand-offs, same order
KEY_CHECK = b"vaultline key check"
ENTRY = struct.Struct("<32sQI")  # chunk id, offset in pack, sealed length
THREADS = max(2, min(4, os.cpu_count() or 2))
PACK_WRITERS = 2  # packs stored at once: one's fsync waits on the disk while the next is written


@dataclass
class BackupStats:
    bytes_read: int = 0
    zero_bytes: int = 0
    new_bytes: int = 0
    stored_bytes: int = 0
    new_chunks: int = 0
    reused_chunks: int = 0


@dataclass
class VerifyReport:
    points: list = field(default_factory=list)
    chunks_checked: int = 0
    damaged_objects: dict = field(default_factory=dict)  # damaged object (pack, index, list, point) -> reason
    affected_points: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.damaged_objects


def _encode_entries(entries):
    return b"".join(ENTRY.pack(chunk_id, offset, length) for chunk_id, offset, length in entries)


def _decode_entries(data):
    return [ENTRY.unpack_from(data, at) for at in range(0, len(data), ENTRY.size)]


def _split_ids(data):
    return [data[at:at + ID_SIZE] for at in range(0, len(data), ID_SIZE)]


def _pack_path(pack):
    return f"packs/{pack[:2]}/{pack}"


class Repository(DamageMarks):
    def __init__(self, storage, keys, config, cache_dir=None):
        """`cache_dir` keeps the chunk index between uses (one SQLite file per repository); without
        one, the index is rebuilt in a temporary folder that goes with this object."""
        self.storage = storage
        self.keys = keys
        self.config = config
        self.chunk_size = config["chunk_size"]
        self._cache_dir = cache_dir
        self._index = None
        self._index_lock = threading.Lock()

    # --- Opening ----------------------------------------------------------------------

    @classmethod
    def init(cls, storage, vault_key, chunk_size=DEFAULT_CHUNK_SIZE, cache_dir=None):
        keys = Keys(vault_key)
        config = {
            "format": FORMAT_VERSION,
            "id": uuid.uuid4().hex,
            "chunk_size": chunk_size,
            "created": now(),
            "key_check": base64.b64encode(keys.seal(KEY_CHECK, b"config", compress=False)).decode(),
        }
        if not storage.create_exclusive("config", json.dumps(config, indent=2).encode()):
            raise RepositoryError("A repository already exists there")
        return cls(storage, keys, config, cache_dir)

    @classmethod
    def open(cls, storage, vault_key, cache_dir=None):
        try:
            config = json.loads(storage.read("config"))
        except ObjectMissing:
            raise RepositoryError("There is no repository there (no config)") from None
        if config.get("format") != FORMAT_VERSION:
            raise RepositoryError(f"Unknown repository format {config.get('format')!r}")
        keys = Keys(vault_key)
        try:
            keys.open(base64.b64decode(config["key_check"]), b"config", compressed=False)
        except DamagedData:
            raise WrongKey("This key does not open the repository") from None
        return cls(storage, keys, config, cache_dir)

    # --- The index of stored chunks ----------------------------------------------------

    @property
    def index(self):
        """The ChunkIndex, brought up to date with the storage on first use."""
        with self._index_lock:
            if self._index is None:
                index = self._open_index()
                self._sync_index(index)
                self._index = index  # only once in step with the storage
        return self._index

    def refresh_index(self):
        """Bring the index up to date again: packs another process added or removed since."""
        self.index  # noqa: B018 - opens it (and syncs) if this is the first use
        with self._index_lock:
            self._sync_index(self._index)

    def _open_index(self):
        if not self._cache_dir:
            folder = tempfile.mkdtemp(prefix="vaultline-index-")
            weakref.finalize(self, shutil.rmtree, folder, True)
        else:
            folder = Path(self._cache_dir)
            folder.mkdir(parents=True, exist_ok=True)
        # Named by repository and place: two copies of one repository never share a cache.
        place = self.keys.chunk_id(self.storage.location.encode()).hex()[:16]
        return ChunkIndex(Path(folder) / f"{self.config['id']}-{place}.sqlite3")

    def _sync_index(self, index):
        """Add the packs the storage lists and the cache lacks; drop those the storage no longer lists.
        The same for the damage marks."""
        known = set(index.pack_names())  # before listing: a pack recorded meanwhile is not taken for gone
        listed = {name.split("/", 1)[1] for name in self.storage.list("index/")}
        index.remove_packs(known - listed)
        with ThreadPoolExecutor(THREADS) as pool:
            for pack, entries in _in_order(pool, lambda pack: (pack, self._pack_entries(pack)), sorted(listed - known)):
                if entries is not None:
                    index.add_pack(pack, entries)
        self._sync_marks(index)

    def _pack_entries(self, pack):
        """A pack's chunks from its index object, or from the sealed copy at the pack's own end when the
        index object is damaged (verify reads every index object again and names it). None if neither
        can be read."""
        try:
            return _decode_entries(self.keys.open(self.storage.read(f"index/{pack}"), f"index/{pack}".encode()))
        except ObjectMissing:
            return None  # pruned while we listed
        except DamagedData:
            try:
                return _decode_entries(self._pack_header(pack))
            except (DamagedData, ObjectMissing, struct.error, ValueError):
                return None  # its chunks are then in no pack: verify names the points affected

    def _pack_header(self, pack):
        path = _pack_path(pack)
        data = self.storage.read(path)
        (length,) = struct.unpack("<I", data[-4:])
        return self.keys.open(data[-4 - length:-4], f"pack/{pack}".encode())

    # --- Recovery points ---------------------------------------------------------------

    def point_ids(self):
        return [name.split("/", 1)[1] for name in self.storage.list("points/")]

    def load_point(self, point_id):
        try:
            sealed = self.storage.read(f"points/{point_id}")
        except ObjectMissing:
            raise PointNotFound(f"Recovery point {point_id} is not in the repository") from None
        return json.loads(self.keys.open(sealed, f"points/{point_id}".encode()))

    def points(self):
        """Every recovery point's manifest, oldest first."""
        return sorted((self.load_point(point_id) for point_id in self.point_ids()), key=lambda p: p["created"])

    def delete_point(self, point_id):
        self.storage.delete(f"points/{point_id}")

    # --- Chunk lists -------------------------------------------------------------------

    @staticmethod
    def piece_size(disk):
        """Chunk ids per piece of this disk's chunk list (each disk entry records its own)."""
        return disk.get("piece", SEGMENT_CHUNKS)

    def segment_count(self, disk):
        return ceil_div(self.chunk_count(disk), self.piece_size(disk))

    def chunk_count(self, disk):
        return ceil_div(disk["size"], self.chunk_size)

    def segment(self, disk, number):
        """The chunk ids of one piece of a disk's chunk list."""
        piece = self.piece_size(disk)
        if "lists" not in disk:  # the first development versions kept the whole list in the manifest
            ids = _split_ids(base64.b64decode(disk["chunks"]))
            return ids[number * piece:(number + 1) * piece]
        list_id = disk["lists"][number]
        try:
            sealed = self.storage.read(f"lists/{list_id}")
        except ObjectMissing:
            raise DamagedData(f"chunk list {list_id} is missing", lists=[list_id]) from None
        try:
            ids = _split_ids(self.keys.open(sealed, f"lists/{list_id}".encode()))
        except DamagedData as error:
            raise DamagedData(f"chunk list {list_id}: {error}", lists=[list_id]) from None
        if len(ids) != min(piece, self.chunk_count(disk) - number * piece):
            raise DamagedData(f"chunk list {list_id} has {len(ids)} ids, not what its disk needs", lists=[list_id])
        return ids

    def segments(self, disk):
        """(index of its first chunk, chunk ids) for each piece of a disk's chunk list, in order."""
        for number in range(self.segment_count(disk)):
            yield number * self.piece_size(disk), self.segment(disk, number)

    def chunk_ids(self, disk):
        """Every chunk id of a disk, in order (ZERO_ID for an all-zero chunk)."""
        for _first, ids in self.segments(disk):
            yield from ids

    def write_list(self, ids):
        """Store one piece of a chunk list under a name derived from its content; returns the name."""
        data = b"".join(ids)
        list_id = self.keys.chunk_id(data).hex()
        self.storage.write(f"lists/{list_id}", self.keys.seal(data, f"lists/{list_id}".encode()))
        return list_id

    # --- Writing -----------------------------------------------------------------------

    def writer(self, wait=0, on_wait=None):
        """A BackupWriter holding the repository's writer lock (use it as a context manager).
        While another process writes, retry for up to `wait` seconds, calling on_wait() meanwhile."""
        return BackupWriter(self, wait, on_wait)

    # --- Reading -----------------------------------------------------------------------

    def read_chunk(self, chunk_id, location=None):
        """The chunk's bytes, checked against its id. DamagedData if anything is off.
        `location` (pack, offset, length) saves looking it up."""
        pack, offset, length = location or self._locate([chunk_id])[chunk_id]
        ((_index, data),) = self._read_run(pack, [(offset, length, None, chunk_id)])
        return data

    def _open_chunk(self, pack, chunk_id, sealed):
        try:
            data = self.keys.open(sealed, b"chunk" + chunk_id)
        except DamagedData:
            data = None
        if data is None or self.keys.chunk_id(data) != chunk_id:
            raise DamagedData(f"chunk {chunk_id.hex()[:16]} in pack {pack} is damaged", chunks=[(pack, chunk_id)])
        return data

    def _locate(self, chunk_ids):
        """{chunk id: location} for every id given; DamagedData naming the first that no pack holds."""
        found = self.index.locate(chunk_ids)
        missing = [chunk_id for chunk_id in chunk_ids if chunk_id not in found]
        if missing:
            raise DamagedData(f"chunk {missing[0].hex()[:16]} is in no pack", chunks=[(NO_PACK, chunk_id) for chunk_id in missing])
        return found

    def _reads(self, first, ids):
        """For one piece of a chunk list: (pack, [(offset, length, chunk index, chunk id)]) runs of
        chunks lying close together in one pack, each run to be fetched with one ranged read."""
        wanted = [(first + at, chunk_id) for at, chunk_id in enumerate(ids) if chunk_id != ZERO_ID]
        where = self._locate([chunk_id for _index, chunk_id in wanted])
        by_pack = collections.defaultdict(list)
        for index, chunk_id in wanted:
            pack, offset, length = where[chunk_id]
            by_pack[pack].append((offset, length, index, chunk_id))
        for pack, entries in by_pack.items():
            for run in _runs(sorted(entries)):
                yield pack, run

    def _fetch_run(self, pack, run):
        """One ranged read covering a run: a function giving each (offset, length)'s sealed bytes."""
        start = run[0][0]
        end = max(offset + length for offset, length, _index, _chunk_id in run)
        data = memoryview(self.storage.read_range(_pack_path(pack), start, end - start))
        return lambda offset, length: data[offset - start:offset - start + length]

    def _read_run(self, pack, run):
        """Fetch one run with a ranged read; yield (chunk index, checked bytes) for each chunk in it, one
        at a time (a run of very compressible chunks can open up to far more than it took to fetch)."""
        try:
            sealed = self._fetch_run(pack, run)
        except ObjectMissing:
            # A prune may have repacked it since we looked: look the run's chunks up again, once.
            self.refresh_index()
            where = self.index.locate([chunk_id for _offset, _length, _index, chunk_id in run])
            for _offset, _length, index, chunk_id in run:
                if where.get(chunk_id, (pack,))[0] == pack:
                    raise DamagedData(f"pack {pack} is missing",
                                      chunks=[(pack, entry[3]) for entry in run]) from None
                yield index, self.read_chunk(chunk_id, where[chunk_id])
            return
        for offset, length, index, chunk_id in run:
            yield index, self._open_chunk(pack, chunk_id, sealed(offset, length))

    def restore_disk(self, point_id, disk_index, out_path, progress=None, durable=True):
        """Write one disk of a recovery point to out_path, zero chunks left as holes. Every chunk is
        checked before it is written; on damage nothing is left at out_path. One piece of the chunk
        list at a time, its chunks fetched a run of a pack at a time on a few threads and written
        straight to their places. With `durable` (the default) the file is fsynced before it is
        renamed into place. Disks are named by their place in the point (two may share a name)."""
        disk = self._disk(point_id, disk_index)
        out = _ImageFile(out_path, disk["size"])
        temporary = out.path
        try:
            with out, self._noting_damage():

                def restore_run(pack, run):
                    # Chunks of neighbouring places go out in one write (runs follow the disk's order).
                    written, pending, start, end = 0, [], 0, 0
                    for index, data in self._read_run(pack, run):
                        offset = index * self.chunk_size
                        if pending and (offset != end or end - start >= WRITE_SIZE):
                            written += out.write(start, pending)
                            pending = []
                        if not pending:
                            start = offset
                        pending.append(data)
                        end = offset + len(data)
                    if pending:
                        written += out.write(start, pending)
                    return written

                reads = (read for first, ids in self.segments(disk) for read in self._reads(first, ids))
                with ThreadPoolExecutor(THREADS) as pool:
                    for written in _in_order(pool, lambda read: restore_run(*read), reads):
                        if progress:
                            progress(written)
                if durable:
                    out.sync()
            os.replace(temporary, out_path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        return disk

    def _chunks_in_order(self, disk):
        """(index, bytes or None for a zero chunk), in order, each read on its own (a ranged read)
        and checked, a few ahead on worker threads."""
        def located():
            for first, ids in self.segments(disk):
                where = self._locate([chunk_id for chunk_id in ids if chunk_id != ZERO_ID])
                for index, chunk_id in enumerate(ids, first):
                    yield index, chunk_id, where.get(chunk_id)

        def fetch(item):
            index, chunk_id, location = item
            return index, None if chunk_id == ZERO_ID else self.read_chunk(chunk_id, location)

        with ThreadPoolExecutor(THREADS) as pool:
            yield from _in_order(pool, fetch, located(), THREADS * 4)

    def matches(self, point_id, disk_index, path):
        """True if the raw image at `path` holds exactly the recovery point's disk: every chunk's
        keyed id is computed again and compared with the manifest's."""
        disk = self._disk(point_id, disk_index)
        if os.path.getsize(path) != disk["size"]:
            return False
        for (_index, data), expected in zip(file_chunks(path, self.chunk_size), self.chunk_ids(disk), strict=True):
            actual = ZERO_ID if data is None or _all_zero(data) else self.keys.chunk_id(data)
            if actual != expected:
                return False
        return True

    def stream_disk(self, point_id, disk_index):
        """The disk's bytes as a stream of blocks (zeros included), for a download."""
        disk = self._disk(point_id, disk_index)
        zero = bytes(self.chunk_size)
        remaining = disk["size"]
        with self._noting_damage():
            for _index, data in self._chunks_in_order(disk):
                block = data if data is not None else zero[: min(self.chunk_size, remaining)]
                remaining -= len(block)
                yield block

    def _disk(self, point_id, disk_index):
        """The point's disk at this place (0 for the first)."""
        try:
            disks = self.load_point(point_id)["disks"]
        except DamagedData:
            raise DamagedData(f"the manifest of recovery point {point_id} is damaged") from None
        if not isinstance(disk_index, int) or not 0 <= disk_index < len(disks):
            raise PointNotFound(f"Recovery point {point_id} has no disk {disk_index!r}")
        return disks[disk_index]

    # --- Checking ----------------------------------------------------------------------

    def _needed_chunks(self, on_damage, each_list_once=True, seen=None):
        """(point id, non-zero chunk ids) of every recovery point, a piece of a chunk list at a time;
        a piece that several points share is read for the first only, unless not each_list_once.
        on_damage(point id, object name, reason) for a manifest or chunk list that cannot be read.
        `seen` (a set, if given) ends up holding the name of every piece, as bytes."""
        seen, damaged_lists = set() if seen is None else seen, {}  # 32 bytes per distinct piece (GiB of disk)
        for point_id in self.point_ids():
            try:
                disks = self.load_point(point_id)["disks"]
            except PointNotFound:
                continue  # deleted (retention) while we looked
            except DamagedData as error:
                on_damage(point_id, f"points/{point_id}", str(error))
                continue
            for disk in disks:
                for number in range(self.segment_count(disk)):
                    if each_list_once and "lists" in disk:
                        if (list_id := bytes.fromhex(disk["lists"][number])) in seen:
                            if list_id in damaged_lists:  # a damaged piece affects every point using it
                                on_damage(point_id, *damaged_lists[list_id])
                            continue
                        seen.add(list_id)
                    try:
                        ids = self.segment(disk, number)
                    except DamagedData as error:
                        name = f"lists/{disk['lists'][number]}"
                        if "lists" in disk:
                            damaged_lists[bytes.fromhex(disk["lists"][number])] = (name, str(error))
                        on_damage(point_id, name, str(error))
                        continue
                    yield point_id, [chunk_id for chunk_id in ids if chunk_id != ZERO_ID]

    def verify(self):
        """Read every chunk every recovery point needs; name the damaged objects and the points they affect."""
        report = VerifyReport()
        affected, damaged_lists, damaged_copies = set(), set(), []

        def damaged(point_id, name, reason):
            report.damaged_objects[name] = reason
            affected.add(point_id)
            if name.startswith("lists/"):
                damaged_lists.add(name.split("/", 1)[1])

        self.refresh_index()
        for name in self.storage.list("index/"):  # read again: the cache may predate the damage
            try:
                self.keys.open(self.storage.read(name), name.encode())
            except ObjectMissing:
                continue
            except DamagedData:
                report.damaged_objects[name] = "the index object is damaged (the pack's own header was used)"
        report.points = sorted(self.point_ids())
        bad_chunks = set()
        with self.index.temporary_set(ids for _point, ids in self._needed_chunks(damaged)) as needed:
            in_no_pack = self.index.missing(needed)
            if in_no_pack:
                report.damaged_objects["(no pack)"] = f"{len(in_no_pack)} chunks are in no pack"
                bad_chunks.update(in_no_pack)
                damaged_copies += [(NO_PACK, chunk_id) for chunk_id in in_no_pack]
            with self.index.needed_by_pack(needed) as packs, ThreadPoolExecutor(THREADS) as pool:
                for checked in _in_order(pool, lambda pack: self._check_pack(*pack), packs):
                    self._note_check(report, bad_chunks, *checked)
                    damaged_copies += list(checked[2])
        self.note_damage(damaged_copies, damaged_lists)
        if bad_chunks:
            for point_id, ids in self._needed_chunks(lambda *_: None, each_list_once=False):
                if point_id not in affected and not bad_chunks.isdisjoint(ids):
                    affected.add(point_id)
        report.affected_points = sorted(affected)
        return report

    def _check_pack(self, pack, entries):
        """(pack, chunks checked, {damaged chunk id: reason}) for the given chunks of one pack."""
        checked, bad = 0, {}
        for run in _runs(entries):
            try:
                checked += sum(1 for _chunk in self._read_run(pack, run))
            except DamagedData:
                for entry in run:  # which of the run's chunks: each on its own
                    try:
                        checked += sum(1 for _chunk in self._read_run(pack, [entry]))
                    except DamagedData as error:
                        # The copy that failed: this pack's, or another the chunk was looked up in.
                        for copy in error.chunks or [(pack, entry[3])]:
                            bad[copy] = str(error)
        return pack, checked, bad

    @staticmethod
    def _note_check(report, bad_chunks, pack, checked, bad):
        """`bad`: {(pack, chunk id): reason} of the copies found damaged."""
        report.chunks_checked += checked
        if bad:
            report.damaged_objects.setdefault(pack, next(iter(bad.values())))
            bad_chunks.update(chunk_id for _pack, chunk_id in bad)

    def prune(self, wait=0, on_wait=None):
        """Delete the packs and chunk lists that no recovery point needs any more, and repack the packs
        that are mostly dead: their live chunks are copied (still sealed) into new packs, stored, and
        only then the old packs deleted. Returns the bytes freed."""
        def unreadable(_point, name, reason):
            raise DamagedData(f"{name}: {reason}")  # what a damaged manifest needs is unknown: delete nothing

        with self.writer(wait, on_wait) as writer:
            index, needed_lists = self.index, set()
            with index.temporary_set(ids for _point, ids in self._needed_chunks(unreadable, seen=needed_lists)) as needed:
                freed = sum(self._delete_pack(writer, pack) for pack in index.dead_packs(needed, writer.trusted_up_to))
                sparse = index.sparse_packs(needed, writer.trusted_up_to, REPACK_BELOW)
                with index.temporary_set([sparse]) as repacking:
                    for at in range(0, len(sparse), REPACK_BATCH):
                        freed += self._repack(writer, sparse[at:at + REPACK_BATCH], needed, repacking)
                for name in self.storage.list("lists/"):
                    list_id = name.split("/", 1)[1]
                    if LIST_NAME.fullmatch(list_id) and bytes.fromhex(list_id) not in needed_lists:
                        writer.check_lock()
                        self.storage.delete(name)
            self._compact_marks(writer, needed_lists)
            return freed

    def _delete_pack(self, writer, pack):
        """Delete a pack (its index object first: a pack is never half-listed). Returns its chunks' bytes."""
        writer.check_lock()
        self.storage.delete(f"index/{pack}")
        self.storage.delete(_pack_path(pack))
        size = sum(length for _chunk_id, length in self.index.pack_chunks(pack))
        self.index.remove_packs([pack])
        return size

    def _repack(self, writer, packs, needed, repacking):
        """Copy the live chunks of `packs` into new packs, store those, then delete `packs`. A chunk is
        not copied when a trusted pack outside the whole repacking (`repacking`, all packs to repack)
        holds it: the first readable pack that has it gives the copy, and later ones then find it in
        the new pack. A pack that cannot be read, or with a chunk that fails its check, is kept as it
        is (verify names it). Returns the bytes freed."""
        index, copied, keep = self.index, 0, set()
        for pack in packs:
            live = index.live_without_other_copy(pack, needed, repacking, writer.trusted_up_to, writer.token)
            try:
                for run in _runs(live):
                    fetched = self._fetch_run(pack, run)
                    for offset, length, _index, chunk_id in run:
                        if chunk_id in writer.pending:  # copied from an earlier pack of this batch
                            continue
                        sealed = bytes(fetched(offset, length))
                        self._open_chunk(pack, chunk_id, sealed)  # never copy damage
                        writer.append(chunk_id, sealed)
                        copied += length
            except (DamagedData, ObjectMissing):
                keep.add(pack)
        writer.flush()  # the copies are stored, and in the index, before any original goes
        return max(0, sum(self._delete_pack(writer, pack) for pack in packs if pack not in keep) - copied)

    def stored_bytes(self):
        return self.storage.total_size()


def _runs(entries):
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


class _ImageFile:
    """A new file of a given size that blocks are written into at their offsets, with O_DIRECT where
    the file system allows: a multi-GiB restore then goes to the disk as it is written, instead of
    filling the page cache (and leaving everything to one final fsync). Blocks not aligned to the
    file system's block (a disk's last chunk) go through an ordinary descriptor of the same file."""

    def __init__(self, beside, size):
        """A new private file next to `beside` (created exclusively: never written through a path
        that was already there); `path` names it."""
        folder, name = os.path.split(os.path.abspath(beside))
        while True:
            self.path = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:16]}.partial")
            try:
                self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                  0o600)
                break
            except FileExistsError:
                continue
        os.ftruncate(self.fd, size)
        self.align = max(mmap.PAGESIZE, os.fstat(self.fd).st_blksize)
        self.direct = None
        if hasattr(os, "O_DIRECT"):
            with contextlib.suppress(OSError):  # EINVAL: this file system does not do direct I/O
                # The same open file again (not its path, which could be swapped), for direct writes.
                self.direct = os.open(f"/proc/self/fd/{self.fd}", os.O_WRONLY | os.O_DIRECT | os.O_CLOEXEC)
        self._direct_works = self.direct is not None
        self._buffers = threading.local()  # O_DIRECT needs aligned memory: an mmap per thread

    def write(self, offset, blocks):
        """Write `blocks` one after another from `offset`; returns the bytes written."""
        length = sum(map(len, blocks))
        if self._direct_works and offset % self.align == 0 and length % self.align == 0:
            buffer = getattr(self._buffers, "map", None)
            if buffer is None or len(buffer) < length:
                buffer = self._buffers.map = mmap.mmap(-1, length)
            at = 0
            for block in blocks:
                buffer[at:at + len(block)] = block
                at += len(block)
            try:
                return _write_all(self.direct, memoryview(buffer)[:length], offset)
            except OSError as error:
                if error.errno != errno.EINVAL:
                    raise
                self._direct_works = False  # accepted at open, refused at write: go through the cache
        return _write_all(self.fd, b"".join(blocks), offset)

    def sync(self):
        os.fsync(self.fd)  # on Linux this covers what the direct descriptor wrote too

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self.direct is not None:
            os.close(self.direct)
        os.close(self.fd)


def _write_all(fd, data, offset):
    """pwrite until all of `data` is written (a write may take only part of it)."""
    view, done = memoryview(data), 0
    while done < len(view):
        written = os.pwrite(fd, view[done:], offset + done)
        if written == 0:
            raise OSError(errno.EIO, "the disk took nothing more")
        done += written
    return done


@functools.lru_cache(maxsize=8)
def _zeros(length):
    return bytes(length)


def _all_zero(data):
    """A memcmp against zeros: stops at the first non-zero byte (bytes.count(0) reads all of them)."""
    return data == _zeros(len(data))


def _in_order(pool, function, items, ahead=THREADS * 2):
    """function(item) for each item on the pool, at most `ahead` in flight, results in order. If the
    taker stops early or a call fails, the calls not yet started are cancelled."""
    window = collections.deque()
    try:
        for item in items:
            window.append(pool.submit(function, item))
            if len(window) > ahead:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
    finally:
        for future in window:
            future.cancel()


def _batches(items, size):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class BackupWriter:
    """Adds disks to the repository and commits a recovery point. Holds the writer lock."""

    def __init__(self, repository, wait=0, on_wait=None):
        self.repo = repository
        self._wait, self._on_wait = wait, on_wait
        self.keys = repository.keys
        self.stats = BackupStats()
        self._pack = bytearray()
        self._pack_entries = []
        self._pending = set()  # ids appended to a pack not yet in the index: about to be stored
        self._writes = queue.Queue(maxsize=2)  # packs waiting for the writer thread: bounds memory
        self._write_error = None
        self._writers = [threading.Thread(target=self._write_packs, name="pack-writer", daemon=True)
                         for _ in range(PACK_WRITERS)]
        self._token = uuid.uuid4().hex
        self._held = threading.Event()
        self._refresher = threading.Thread(target=self._refresh_lock, name="lock-refresher", daemon=True)

    def __enter__(self):
        deadline = time.monotonic() + self._wait
        while True:
            try:
                self._lock()
                break
            except RepositoryLocked:
                if time.monotonic() >= deadline:
                    raise
                if self._on_wait:
                    self._on_wait()
                time.sleep(1)
        try:
            # What a writer killed mid-write left: only a writer makes temporary files, and we are the writer.
            self.repo.storage.remove_leftovers(older_than=LEFTOVER_AGE)
            self.repo.refresh_index()  # with the lock held, nobody prunes: what it lists stays stored
            self.trusted_up_to = self.repo.index.newest_pack()  # see ChunkIndex.stored
        except BaseException:
            if self._lock_is_ours():
                self.repo.storage.delete(LOCK_NAME)
            raise
        for writer in self._writers:
            writer.start()
        self._refresher.start()
        return self

    def __exit__(self, *exc_info):
        for _writer in self._writers:
            self._writes.put(None)
        for writer in self._writers:
            writer.join()
        self._held.set()  # stops the refresher
        self._refresher.join()
        if self._lock_is_ours():
            self.repo.storage.delete(LOCK_NAME)

    # --- The lock ------------------------------------------------------------------------
    # The lock object names its holder and a random token; the holder refreshes it on a timer
    # for as long as it writes, and removes or rewrites it only while the token is its own.

    def _lock_record(self):
        return json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": _process_start(os.getpid()),
                           "at": time.time(), "token": self._token}).encode()

    def _read_lock(self):
        """(holder, the lock's bytes as read); (None, None) when there is no lock."""
        try:
            raw = self.repo.storage.read(LOCK_NAME)
        except ObjectMissing:
            return None, None
        try:
            return json.loads(raw), raw
        except ValueError:
            return {}, raw  # unreadable: judged by its age like any other (see _lock_is_stale)

    def _lock_is_ours(self):
        holder, _raw = self._read_lock()
        return bool(holder) and holder.get("token") == self._token

    def _lock(self):
        storage = self.repo.storage
        if storage.create_exclusive(LOCK_NAME, self._lock_record()):
            return
        holder, raw = self._read_lock()
        if holder is not None and _lock_is_stale(holder):
            # Remove exactly the stale lock that was judged, never one another writer just made.
            if storage.delete_if_unchanged(LOCK_NAME, raw) and storage.create_exclusive(LOCK_NAME, self._lock_record()):
                return
        holder = holder or {}
        raise RepositoryLocked(
            f"The repository is being written by process {holder.get('pid')} on {holder.get('host')}"
        )

    def _refresh_lock(self):
        """On a timer thread while the lock is held: keep it fresh, and notice if it was taken."""
        failures = 0
        while not self._held.wait(LOCK_REFRESH):
            try:
                if not self._lock_is_ours():
                    self._write_error = RepositoryLocked("The repository's writer lock was taken by another process")
                    return
                self.repo.storage.write(LOCK_NAME, self._lock_record())
                failures = 0
            except Exception as error:  # noqa: BLE001 - a passing storage error; give up only if it stays
                failures += 1
                if failures * LOCK_REFRESH >= LOCK_STALE_AFTER / 3:
                    self._write_error = error
                    return

    def check_lock(self):
        """Raise if the lock is no longer ours (a prune checks before each delete)."""
        self._check_writer()
        if not self._lock_is_ours():
            raise RepositoryLocked("The repository's writer lock was lost")

    # --- Chunks ----------------------------------------------------------------------------

    def store_disk(self, name, size, chunks, *, base=None, progress=None, **extra):
        """Store a disk from `chunks`: (index, bytes or None) for the chunks read, in order.

        With `base` (the same disk's entry in an earlier point), chunks not given keep the earlier
        point's ids: an incremental backup reads only what changed. Returns the disk's manifest entry.
        Chunks are hashed, compressed and sealed in batches on a few threads (zstd, BLAKE3 and AES
        release the GIL); packs are written by a writer thread meanwhile.
        """
        if base is not None and (base["size"] != size or Repository.piece_size(base) != SEGMENT_CHUNKS):
            base = None
        chunk_list = _ChunkList(self.repo, size, base)
        with ThreadPoolExecutor(THREADS) as pool:
            # A feeder thread reads the chunks and hands batches to the pool; this thread takes
            # the results in order. Reading, sealing and bookkeeping then overlap.
            prepared = queue.Queue(maxsize=THREADS * 2)
            stop = threading.Event()  # set when the taking side fails: stop reading the disk

            def feed():
                try:
                    for batch in _batches(chunks, BATCH):
                        if stop.is_set():
                            break
                        prepared.put(pool.submit(self._prepare_batch, batch))
                except BaseException as error:  # noqa: BLE001 - raised again on the taking thread
                    failed = Future()
                    failed.set_exception(error)
                    prepared.put(failed)
                prepared.put(None)

            feeder = threading.Thread(target=feed, name="chunk-reader", daemon=True)
            feeder.start()
            try:
                while (future := prepared.get()) is not None:
                    self._take(chunk_list, future.result(), progress, size)
            finally:
                stop.set()
                while feeder.is_alive():  # let the feeder finish (or fail) before the pool closes
                    if prepared.get() is None:
                        break
                feeder.join()
        self._check_writer()
        return {"name": name, "size": size, "piece": SEGMENT_CHUNKS, "lists": chunk_list.finish(), **extra}

    def _prepare_batch(self, batch):
        """On a worker thread: each chunk's id, and its sealed bytes if the repository lacks it."""
        ids = [None if data is None or _all_zero(data) else self.keys.chunk_id(data) for _index, data in batch]
        pending = {chunk_id for chunk_id in ids if chunk_id in self._pending}  # checked before the index: see _write_packs
        stored = self.repo.index.stored([chunk_id for chunk_id in ids if chunk_id is not None],
                                        self.trusted_up_to, self._token)
        prepared = []
        for (index, data), chunk_id in zip(batch, ids, strict=True):
            if chunk_id is None:
                prepared.append((index, ZERO_ID, None, data))
            elif chunk_id in pending or chunk_id in stored:
                prepared.append((index, chunk_id, None, data))
            else:
                prepared.append((index, chunk_id, self.keys.seal(data, b"chunk" + chunk_id), data))
        return prepared

    def _take(self, chunk_list, prepared, progress, size):
        """On the calling thread, in order: record ids, and append new chunks to the open pack."""
        done = 0
        for index, chunk_id, sealed, data in prepared:
            length = len(data) if data is not None else min(self.repo.chunk_size, size - index * self.repo.chunk_size)
            done += length
            chunk_list.set(index, chunk_id)
            if chunk_id == ZERO_ID:
                self.stats.zero_bytes += length
            elif sealed is None or chunk_id in self._pending:
                self.stats.reused_chunks += 1
            else:
                self.append(chunk_id, sealed)
                self.stats.new_chunks += 1
                self.stats.new_bytes += length
                self.stats.stored_bytes += len(sealed)
        self.stats.bytes_read += done
        if progress:
            progress(done)

    def append(self, chunk_id, sealed):
        """Add a sealed chunk to the open pack; a full pack goes to the writer thread."""
        self._pack_entries.append((chunk_id, len(self._pack), len(sealed)))
        self._pack += sealed
        self._pending.add(chunk_id)
        if len(self._pack) >= PACK_TARGET_SIZE or len(self._pack_entries) >= PACK_MAX_CHUNKS:
            self.flush(wait=False)

    @property
    def pending(self):
        return self._pending

    @property
    def token(self):
        return self._token

    def flush(self, wait=True):
        """Hand the open pack to the writer thread; with `wait`, until it and its index are stored."""
        if self._pack_entries:
            pack = uuid.uuid4().hex
            entries = _encode_entries(self._pack_entries)
            header = self.keys.seal(entries, f"pack/{pack}".encode())
            self._pack += header + struct.pack("<I", len(header))
            self._check_writer()
            self._writes.put((pack, bytes(self._pack), self.keys.seal(entries, f"index/{pack}".encode()),
                              self._pack_entries))
            self._pack = bytearray()
            self._pack_entries = []
        if wait:
            self._writes.join()
            self._check_writer()

    def _write_packs(self):
        """The writer thread: each pack, then its index object; then the chunks count as stored."""
        storage = self.repo.storage
        while True:
            item = self._writes.get()
            try:
                if item is None:
                    return
                pack, data, index_object, entries = item
                if self._write_error is None:
                    storage.write(_pack_path(pack), data)
                    storage.write(f"index/{pack}", index_object)
                    # Into the index, then out of the pending set: a batch that finds a chunk in
                    # neither (it looked at the set first) can only have raced a whole pack write,
                    # and then stores a second copy: space lost, nothing wrong.
                    self.repo.index.add_pack(pack, entries, added_by=self._token)
                    self._pending.difference_update([chunk_id for chunk_id, _offset, _length in entries])
            except BaseException as error:  # noqa: BLE001 - handed to the backup's thread
                self._write_error = error
            finally:
                self._writes.task_done()

    def _check_writer(self):
        if self._write_error is not None:
            raise self._write_error

    def commit(self, manifest):
        """Write the recovery point: last, after every chunk it names is stored. Returns its id."""
        self.flush()
        if not self._lock_is_ours():  # another writer broke in: a prune may have removed our packs
            raise RepositoryLocked("The repository's writer lock was lost before the recovery point was written")
        point_id = manifest.setdefault("id", uuid.uuid4().hex)
        manifest.setdefault("created", now())
        manifest["chunk_size"] = self.repo.chunk_size
        self.repo.storage.write(f"points/{point_id}", self.keys.seal(json.dumps(manifest).encode(), f"points/{point_id}".encode()))
        return point_id


class _ChunkList:
    """A disk's chunk list, built a piece (SEGMENT_CHUNKS ids) at a time as ids arrive in disk order.
    A piece is written when the ids move past it; a piece no chunk touched keeps the base point's
    list object as it is."""

    def __init__(self, repo, size, base):
        self.repo, self.base = repo, base
        self.count = ceil_div(size, repo.chunk_size)
        self.lists = []  # names of the finished pieces
        self.piece = None  # ids of the open piece, number len(self.lists)

    def set(self, index, chunk_id):
        number = index // SEGMENT_CHUNKS
        if number < len(self.lists):
            raise ValueError("chunks must come in disk order")
        while len(self.lists) < number:
            self._close()
        if self.piece is None:
            self.piece = self._start(number)
        self.piece[index - number * SEGMENT_CHUNKS] = chunk_id

    def finish(self):
        while len(self.lists) * SEGMENT_CHUNKS < self.count:
            self._close()
        return self.lists

    def _start(self, number):
        if self.base is not None:
            return self.repo.segment(self.base, number)
        return [ZERO_ID] * min(SEGMENT_CHUNKS, self.count - number * SEGMENT_CHUNKS)

    def _close(self):
        number = len(self.lists)
        if self.piece is None and self.base is not None and "lists" in self.base:
            shared = self.base["lists"][number]  # untouched: shared with the base point, if it is still there
            if not self.repo.storage.exists(f"lists/{shared}"):
                raise DamagedData(f"chunk list {shared} of the previous recovery point is missing")
            if shared in self.repo.index.damaged_lists():
                self.repo.segment(self.base, number)  # found damaged once: shared only if it reads whole now
            self.lists.append(shared)
            return
        self.lists.append(self.repo.write_list(self.piece if self.piece is not None else self._start(number)))
        self.piece = None


def _process_start(pid):
    """The boot and start time of a process: a pid reused by another process gives other values."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as boot:
            boot_id = boot.read().strip()
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            start = stat.read().rsplit(")", 1)[1].split()[19]  # field 22: start time in clock ticks
        return f"{boot_id}:{start}"
    except (OSError, IndexError):
        return None


def _lock_is_stale(holder):
    """Stale when its holder was not refreshed for LOCK_STALE_AFTER (a live holder refreshes every
    LOCK_REFRESH on a timer thread), or, on this host, when its process is gone or its pid now
    belongs to another process."""
    try:
        if time.time() - float(holder.get("at", 0)) > LOCK_STALE_AFTER:
            return True
    except (TypeError, ValueError):
        return True
    if holder.get("host") != socket.gethostname():
        return False
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return True
    started = _process_start(pid)
    return started is None or (holder.get("started") is not None and started != holder["started"])
