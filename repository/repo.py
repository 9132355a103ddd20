"""The vault repository: content-addressed, deduplicated, compressed and encrypted chunks in packs.

    config                 format, chunk size, and a sealed key check (plain JSON: says how to read the rest)
    packs/<xx>/<pack>      sealed chunks, then a sealed header listing them, then the header's length
    index/<pack>           a sealed copy of that pack's header, read at open to know every stored chunk
    points/<point>         a sealed recovery-point manifest: VM configuration, disks and their chunk lists
    locks/writer           who is writing (host, pid, when)

A backup writes packs, then each pack's index, then the manifest last: a crash leaves no half
recovery point, only packs whose chunks the next backup finds in the index and reuses.
Disks are cut into fixed-size aligned chunks (see bench/chunking.py for why); an all-zero chunk
is stored nowhere and restored as a hole.
"""

import base64
import collections
import datetime
import json
import os
import queue
import socket
import struct
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from repository.crypto import ID_SIZE, ZERO_ID, Keys
from repository.errors import DamagedData, PointNotFound, RepositoryError, RepositoryLocked, WrongKey
from repository.storage import ObjectMissing

FORMAT_VERSION = 1
DEFAULT_CHUNK_SIZE = 64 * 1024
PACK_TARGET_SIZE = 16 * 1024 * 1024
LOCK_NAME = "locks/writer"
LOCK_STALE_AFTER = 30 * 60  # seconds without a refresh
LOCK_REFRESH = 60  # a writer's timer thread refreshes its lock this often
BATCH = 16  # chunks handed to a worker thread at once: fewer hand-offs, same order
KEY_CHECK = b"vaultline key check"
ENTRY = struct.Struct("<32sQI")  # chunk id, offset in pack, sealed length
THREADS = max(2, min(4, os.cpu_count() or 2))


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
    damaged_packs: dict = field(default_factory=dict)  # pack -> reason
    affected_points: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.damaged_packs


def _encode_entries(entries):
    return b"".join(ENTRY.pack(chunk_id, offset, length) for chunk_id, offset, length in entries)


def _decode_entries(data):
    return [ENTRY.unpack_from(data, at) for at in range(0, len(data), ENTRY.size)]


def _pack_path(pack):
    return f"packs/{pack[:2]}/{pack}"


class Repository:
    def __init__(self, storage, keys, config):
        self.storage = storage
        self.keys = keys
        self.config = config
        self.chunk_size = config["chunk_size"]
        self._index = None
        self._index_lock = threading.Lock()
        self.damaged_index_objects = []  # index objects that failed their check (packs' own headers used)

    # --- Opening ----------------------------------------------------------------------

    @classmethod
    def init(cls, storage, vault_key, chunk_size=DEFAULT_CHUNK_SIZE):
        keys = Keys(vault_key)
        config = {
            "format": FORMAT_VERSION,
            "id": uuid.uuid4().hex,
            "chunk_size": chunk_size,
            "created": _now(),
            "key_check": base64.b64encode(keys.seal(KEY_CHECK, b"config", compress=False)).decode(),
        }
        if not storage.create_exclusive("config", json.dumps(config, indent=2).encode()):
            raise RepositoryError("A repository already exists there")
        return cls(storage, keys, config)

    @classmethod
    def open(cls, storage, vault_key):
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
        return cls(storage, keys, config)

    # --- The index of stored chunks ----------------------------------------------------

    @property
    def index(self):
        """chunk id -> (pack, offset, length), from every pack's index object. Loaded once, whole,
        before any thread can see it."""
        with self._index_lock:
            if self._index is None:
                index = {}
                for name in self.storage.list("index/"):
                    pack = name.split("/", 1)[1]
                    try:
                        data = self.keys.open(self.storage.read(name), f"index/{pack}".encode())
                    except ObjectMissing:
                        continue  # pruned while we listed
                    except DamagedData:
                        # The pack carries a sealed copy of the same list at its end: use that.
                        self.damaged_index_objects.append(name)
                        try:
                            data = self._pack_header(pack)
                        except (DamagedData, ObjectMissing, struct.error, ValueError):
                            continue  # its chunks are then in no pack: verify names the points affected
                    for chunk_id, offset, length in _decode_entries(data):
                        index[chunk_id] = (pack, offset, length)
                self._index = index
        return self._index

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

    @staticmethod
    def chunk_ids(disk):
        raw = base64.b64decode(disk["chunks"])
        return [raw[at:at + ID_SIZE] for at in range(0, len(raw), ID_SIZE)]

    # --- Writing -----------------------------------------------------------------------

    def writer(self, wait=0, on_wait=None):
        """A BackupWriter holding the repository's writer lock (use it as a context manager).
        While another process writes, retry for up to `wait` seconds, calling on_wait() meanwhile."""
        return BackupWriter(self, wait, on_wait)

    # --- Reading -----------------------------------------------------------------------

    def read_chunk(self, chunk_id):
        """The chunk's bytes, checked against its id. DamagedData if anything is off."""
        try:
            pack, offset, length = self.index[chunk_id]
        except KeyError:
            raise DamagedData(f"chunk {chunk_id.hex()[:16]} is in no pack") from None
        try:
            sealed = self.storage.read_range(_pack_path(pack), offset, length)
        except ObjectMissing:
            raise DamagedData(f"pack {pack} is missing") from None
        return self._open_chunk(pack, chunk_id, sealed)

    def _open_chunk(self, pack, chunk_id, sealed):
        data = self.keys.open(sealed, b"chunk" + chunk_id)
        if self.keys.chunk_id(data) != chunk_id:
            raise DamagedData(f"chunk {chunk_id.hex()[:16]} in pack {pack} does not match its id")
        return data

    def _by_pack(self, chunks):
        """Group (position, chunk id) by the pack holding each chunk, in the order packs are first needed."""
        packs = {}
        for position, chunk_id in chunks:
            try:
                pack, offset, length = self.index[chunk_id]
            except KeyError:
                raise DamagedData(f"chunk {chunk_id.hex()[:16]} is in no pack") from None
            packs.setdefault(pack, []).append((position, chunk_id, offset, length))
        return packs

    def _read_pack(self, pack):
        try:
            return self.storage.read(_pack_path(pack))
        except ObjectMissing:
            raise DamagedData(f"pack {pack} is missing") from None

    def restore_disk(self, point_id, disk_name, out_path, progress=None, durable=True):
        """Write one disk of a recovery point to out_path, zero chunks left as holes. Every chunk is
        checked before it is written; on damage nothing is left at out_path. Each pack is read once,
        on one of a few threads, and its chunks written straight to their places. With `durable`
        (the default) the file is fsynced before it is renamed into place."""
        disk = self._disk(point_id, disk_name)
        wanted = [(index, chunk_id) for index, chunk_id in enumerate(self.chunk_ids(disk)) if chunk_id != ZERO_ID]
        temporary = f"{out_path}.partial"
        try:
            with open(temporary, "wb") as out:
                out.truncate(disk["size"])

                def restore_pack(pack, chunks):
                    data = memoryview(self._read_pack(pack))
                    written = 0
                    for index, chunk_id, offset, length in chunks:
                        chunk = self._open_chunk(pack, chunk_id, data[offset:offset + length])
                        written += os.pwrite(out.fileno(), chunk, index * self.chunk_size)
                    return written

                with ThreadPoolExecutor(THREADS) as pool:
                    for written in pool.map(lambda item: restore_pack(*item), self._by_pack(wanted).items()):
                        if progress:
                            progress(written)
                out.flush()
                if durable:
                    os.fsync(out.fileno())
            os.replace(temporary, out_path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
        return disk

    def _chunks_in_order(self, disk):
        """(index, bytes or None for a zero chunk), in order, each read on its own (a ranged read)
        and checked, a few ahead on worker threads."""
        with ThreadPoolExecutor(THREADS) as pool:
            window = collections.deque()
            for index, chunk_id in enumerate(self.chunk_ids(disk)):
                window.append((index, None if chunk_id == ZERO_ID else pool.submit(self.read_chunk, chunk_id)))
                if len(window) > THREADS * 4:
                    index, future = window.popleft()
                    yield index, future and future.result()
            for index, future in window:
                yield index, future and future.result()

    def matches(self, point_id, disk_name, path):
        """True if the raw image at `path` holds exactly the recovery point's disk: every chunk's
        keyed id is computed again and compared with the manifest's."""
        from repository.chunking import file_chunks

        disk = self._disk(point_id, disk_name)
        if os.path.getsize(path) != disk["size"]:
            return False
        expected = self.chunk_ids(disk)
        for index, data in file_chunks(path, self.chunk_size):
            actual = ZERO_ID if data is None or data.count(0) == len(data) else self.keys.chunk_id(data)
            if actual != expected[index]:
                return False
        return True

    def stream_disk(self, point_id, disk_name):
        """The disk's bytes as a stream of blocks (zeros included), for a download."""
        disk = self._disk(point_id, disk_name)
        zero = bytes(self.chunk_size)
        remaining = disk["size"]
        for _index, data in self._chunks_in_order(disk):
            block = data if data is not None else zero[: min(self.chunk_size, remaining)]
            remaining -= len(block)
            yield block

    def _disk(self, point_id, disk_name):
        manifest = self.load_point(point_id)
        for disk in manifest["disks"]:
            if disk["name"] == disk_name:
                return disk
        raise PointNotFound(f"Recovery point {point_id} has no disk {disk_name!r}")

    # --- Checking ----------------------------------------------------------------------

    def verify(self):
        """Read every chunk every recovery point needs; name the damaged packs and the points they affect."""
        report = VerifyReport()
        needed = collections.defaultdict(set)  # chunk id -> points
        manifests = {}
        for point_id in self.point_ids():
            try:
                manifests[point_id] = self.load_point(point_id)
            except PointNotFound:
                continue  # deleted (retention) while verify ran
            except DamagedData as error:
                report.damaged_packs[f"points/{point_id}"] = str(error)
                report.affected_points.append(point_id)
                continue
            for disk in manifests[point_id]["disks"]:
                for chunk_id in self.chunk_ids(disk):
                    if chunk_id != ZERO_ID:
                        needed[chunk_id].add(point_id)
        report.points = sorted(manifests)
        affected = set(report.affected_points)
        self.index  # noqa: B018 - loads the index, noting damaged index objects
        for name in self.damaged_index_objects:
            report.damaged_packs[name] = "the index object is damaged (the pack's own header was used)"
        in_no_pack = [chunk_id for chunk_id in needed if chunk_id not in self.index]
        if in_no_pack:
            report.damaged_packs["(no pack)"] = f"{len(in_no_pack)} chunks are in no pack"
            for chunk_id in in_no_pack:
                affected |= needed[chunk_id]
        stored = [(chunk_id, chunk_id) for chunk_id in needed if chunk_id in self.index]
        for pack, chunks in self._by_pack(stored).items():
            try:
                data = self._read_pack(pack)
            except DamagedData as error:
                data, report.damaged_packs[pack] = None, str(error)
            for _, chunk_id, offset, length in chunks:
                try:
                    if data is None:
                        raise DamagedData("missing")
                    self._open_chunk(pack, chunk_id, data[offset:offset + length])
                    report.chunks_checked += 1
                except DamagedData as error:
                    report.damaged_packs.setdefault(pack, str(error))
                    affected |= needed[chunk_id]
        report.affected_points = sorted(affected)
        return report

    def prune(self, wait=0, on_wait=None):
        """Delete the packs that no recovery point needs any more. Returns the bytes freed."""
        with self.writer(wait, on_wait) as writer:
            needed = {
                chunk_id
                for point_id in self.point_ids()
                for disk in self.load_point(point_id)["disks"]
                for chunk_id in self.chunk_ids(disk)
            }
            packs = collections.defaultdict(list)
            for chunk_id, (pack, _offset, length) in self.index.items():
                packs[pack].append((chunk_id, length))
            freed = 0
            for pack, chunks in packs.items():
                if not any(chunk_id in needed for chunk_id, _ in chunks):
                    writer.check_lock()
                    self.storage.delete(f"index/{pack}")  # the index goes first: a pack is never half-listed
                    self.storage.delete(_pack_path(pack))
                    freed += sum(length for _, length in chunks)
                    for chunk_id, _ in chunks:
                        del self.index[chunk_id]
            return freed

    def stored_bytes(self):
        return self.storage.total_size()


def _batches(items, size):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


class BackupWriter:
    """Adds disks to the repository and commits a recovery point. Holds the writer lock."""

    def __init__(self, repository, wait=0, on_wait=None):
        self.repo = repository
        self._wait, self._on_wait = wait, on_wait
        self.keys = repository.keys
        self.stats = BackupStats()
        self._pack = bytearray()
        self._pack_entries = []
        self._pending = set()  # ids appended to a pack this backup: stored, or about to be
        self._writes = queue.Queue(maxsize=2)  # packs waiting for the writer thread: bounds memory
        self._write_error = None
        self._writer = threading.Thread(target=self._write_packs, name="pack-writer", daemon=True)
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
        self._writer.start()
        self._refresher.start()
        return self

    def __exit__(self, *exc_info):
        self._writes.put(None)
        self._writer.join()
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
        try:
            return json.loads(self.repo.storage.read(LOCK_NAME))
        except ObjectMissing:
            return None
        except ValueError:
            return {}  # unreadable: judged by its age like any other (see _lock_is_stale)

    def _lock_is_ours(self):
        holder = self._read_lock()
        return bool(holder) and holder.get("token") == self._token

    def _lock(self):
        storage = self.repo.storage
        if storage.create_exclusive(LOCK_NAME, self._lock_record()):
            return
        holder = self._read_lock()
        if holder is not None and _lock_is_stale(holder):
            # Remove exactly the stale lock that was judged, never one another writer just made.
            if storage.delete_if_unchanged(LOCK_NAME, json.dumps(holder).encode() if holder else None) and \
                    storage.create_exclusive(LOCK_NAME, self._lock_record()):
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
        count = -(-size // self.repo.chunk_size)
        ids = Repository.chunk_ids(base) if base else [ZERO_ID] * count
        if len(ids) != count:
            ids = (ids + [ZERO_ID] * count)[:count]
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
                    self._take(ids, future.result(), progress, size)
            finally:
                stop.set()
                while feeder.is_alive():  # let the feeder finish (or fail) before the pool closes
                    if prepared.get() is None:
                        break
                feeder.join()
        self._check_writer()
        return {"name": name, "size": size, "chunks": base64.b64encode(b"".join(ids)).decode(), **extra}

    def _prepare_batch(self, batch):
        """On a worker thread: each chunk's id, and its sealed bytes if the repository lacks it."""
        prepared = []
        for index, data in batch:
            if data is None or data.count(0) == len(data):
                prepared.append((index, ZERO_ID, None, data))
                continue
            chunk_id = self.keys.chunk_id(data)
            if chunk_id in self.repo.index or chunk_id in self._pending:
                prepared.append((index, chunk_id, None, data))
            else:
                prepared.append((index, chunk_id, self.keys.seal(data, b"chunk" + chunk_id), data))
        return prepared

    def _take(self, ids, prepared, progress, size):
        """On the calling thread, in order: record ids, and append new chunks to the open pack."""
        done = 0
        for index, chunk_id, sealed, data in prepared:
            length = len(data) if data is not None else min(self.repo.chunk_size, size - index * self.repo.chunk_size)
            done += length
            ids[index] = chunk_id
            if chunk_id == ZERO_ID:
                self.stats.zero_bytes += length
            elif sealed is None or chunk_id in self._pending or chunk_id in self.repo.index:
                self.stats.reused_chunks += 1
            else:
                self._pack_entries.append((chunk_id, len(self._pack), len(sealed)))
                self._pack += sealed
                self._pending.add(chunk_id)
                self.stats.new_chunks += 1
                self.stats.new_bytes += length
                self.stats.stored_bytes += len(sealed)
                if len(self._pack) >= PACK_TARGET_SIZE:
                    self.flush(wait=False)
        self.stats.bytes_read += done
        if progress:
            progress(done)

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
                    for chunk_id, offset, length in entries:
                        self.repo.index[chunk_id] = (pack, offset, length)
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
        manifest.setdefault("created", _now())
        manifest["chunk_size"] = self.repo.chunk_size
        self.repo.storage.write(f"points/{point_id}", self.keys.seal(json.dumps(manifest).encode(), f"points/{point_id}".encode()))
        return point_id


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
