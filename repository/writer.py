"""Writing a recovery point: disks cut into chunks, new chunks sealed into packs on a few threads,
packs stored by writer threads, the chunk lists, and the manifest last. A backup's writer holds the
repository's lock shared with other backups; prune's holds it alone (lock.py)."""

import json
import queue
import struct
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from repository.chunking import ceil_div
from repository.crypto import ZERO_ID
from repository.errors import DamagedData, RepositoryLocked
from repository.layout import now
from repository.lock import LOCK_STALE_AFTER, ExclusiveLock, SharedLock
from repository.packs import PIECE_CHUNKS, all_zero, encode_entries, pack_path, piece_size
from repository.threads import THREADS, batches

PACK_TARGET_SIZE = 16 * 1024 * 1024
PACK_MAX_CHUNKS = 4096  # very compressible chunks fill a pack by count first: bounds what is kept per pack
PACK_WRITERS = 2  # packs stored at once: one's fsync waits on the disk while the next is written
BATCH = 16  # chunks handed to a worker thread at once: fewer hand-offs, same order
# Seconds: an older temporary file was left by a writer that died (a lock breaker's lasts ms). Beside
# other backups, only one older than a stale lock: theirs are being written.
LEFTOVER_AGE = 60
SHARED_LEFTOVER_AGE = LOCK_STALE_AFTER


@dataclass
class BackupStats:
    bytes_read: int = 0
    zero_bytes: int = 0
    new_bytes: int = 0
    stored_bytes: int = 0
    new_chunks: int = 0
    reused_chunks: int = 0


class BackupWriter:
    """Adds disks to the repository and commits a recovery point. Holds the repository's lock: shared
    with other backups, or `exclusive` (prune)."""

    def __init__(self, repository, wait=0, on_wait=None, exclusive=False):
        self.repo = repository
        self._wait, self._on_wait = wait, on_wait
        self.keys = repository.keys
        self.stats = BackupStats()
        self.lock = ExclusiveLock(repository.storage) if exclusive else SharedLock(repository.storage)
        self._pack = []  # the open pack's sealed chunks, joined once when it is handed to a writer thread
        self._pack_size = 0
        self._pack_entries = []
        self._pending = set()  # ids appended to a pack not yet in the index: about to be stored
        self._writes = queue.Queue(maxsize=2)  # packs waiting for the writer thread: bounds memory
        self._write_error = None
        self._writers = [threading.Thread(target=self._write_packs, name="pack-writer", daemon=True)
                         for _ in range(PACK_WRITERS)]

    def __enter__(self):
        self.lock.acquire(self._wait, self._on_wait)
        try:
            # What a writer killed mid-write left: only writers make temporary files.
            exclusive = isinstance(self.lock, ExclusiveLock)
            self.repo.storage.remove_leftovers(older_than=LEFTOVER_AGE if exclusive else SHARED_LEFTOVER_AGE)
            self.repo.refresh_index()  # with the lock held, nobody prunes: what it lists stays stored
            self.trusted_up_to = self.repo.index.newest_pack()  # see ChunkIndex.stored
            # A process without the lock (a restore) may have recorded, just before, a pack it listed
            # before a prune deleted it: what the storage lists now, under the lock, is what is there.
            gone = set(self.repo.index.pack_names(up_to=self.trusted_up_to)) - self.repo.listed_packs()
            self.repo.index.remove_packs(gone)
        except BaseException:
            self.lock.release()
            raise
        for writer in self._writers:
            writer.start()
        return self

    def __exit__(self, *exc_info):
        for _writer in self._writers:
            self._writes.put(None)
        for writer in self._writers:
            writer.join()
        self.lock.release()

    @property
    def token(self):
        """The writer's token: what its own packs are recorded with in the index cache."""
        return self.lock.token

    def check_lock(self):
        """Raise if the lock is no longer ours, or a pack could not be stored (a prune checks before each delete)."""
        self._check_writer()
        self.lock.check()

    # --- Chunks ----------------------------------------------------------------------------

    def store_disk(self, name, size, chunks, *, base=None, progress=None, **extra):
        """Store a disk from `chunks`: (index, bytes or None) for the chunks read, in order.

        With `base` (the same disk's entry in an earlier point), chunks not given keep the earlier
        point's ids: an incremental backup reads only what changed. Returns the disk's manifest entry.
        Chunks are hashed, compressed and sealed in batches on a few threads (zstd, BLAKE3 and AES
        release the GIL); packs are written by a writer thread meanwhile.
        """
        if base is not None and (base["size"] != size or piece_size(base) != PIECE_CHUNKS):
            base = None
        chunk_list = _ChunkList(self.repo, size, base)
        with ThreadPoolExecutor(THREADS) as pool:
            # A feeder thread reads the chunks and hands batches to the pool; this thread takes
            # the results in order. Reading, sealing and bookkeeping then overlap.
            prepared = queue.Queue(maxsize=THREADS * 2)
            stop = threading.Event()  # set when the taking side fails: stop reading the disk

            def feed():
                try:
                    for batch in batches(chunks, BATCH):
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
        return {"name": name, "size": size, "piece": PIECE_CHUNKS, "lists": chunk_list.finish(), **extra}

    def _prepare_batch(self, batch):
        """On a worker thread: each chunk's id, and its sealed bytes if the repository lacks it."""
        ids = [None if data is None or all_zero(data) else self.keys.chunk_id(data) for _index, data in batch]
        pending = {chunk_id for chunk_id in ids if chunk_id in self._pending}  # checked before the index: see _write_packs
        stored = self.repo.index.stored([chunk_id for chunk_id in ids if chunk_id is not None],
                                        self.trusted_up_to, self.token)
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

    # --- Packs -----------------------------------------------------------------------------

    def append(self, chunk_id, sealed):
        """Add a sealed chunk to the open pack; a full pack goes to the writer thread."""
        self._pack_entries.append((chunk_id, self._pack_size, len(sealed)))
        self._pack.append(sealed)
        self._pack_size += len(sealed)
        self._pending.add(chunk_id)
        if self._pack_size >= PACK_TARGET_SIZE or len(self._pack_entries) >= PACK_MAX_CHUNKS:
            self.flush(wait=False)

    @property
    def pending(self):
        return self._pending

    def flush(self, wait=True):
        """Hand the open pack to the writer thread; with `wait`, until it and its index are stored."""
        if self._pack_entries:
            pack = uuid.uuid4().hex
            entries = encode_entries(self._pack_entries)
            header = self.keys.seal(entries, f"pack/{pack}".encode())
            self._pack += [header, struct.pack("<I", len(header))]
            self._check_writer()
            self._writes.put((pack, self._pack, self.keys.seal(entries, f"index/{pack}".encode()),
                              self._pack_entries))
            self._pack = []
            self._pack_size = 0
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
                pack, parts, index_object, entries = item
                if self._write_error is None and self.lock.error is None:  # nothing more once the lock is lost
                    storage.write(pack_path(pack), b"".join(parts))  # here, off the thread that cuts and seals
                    storage.write(f"index/{pack}", index_object)
                    # Into the index, then out of the pending set: a batch that finds a chunk in
                    # neither (it looked at the set first) can only have raced a whole pack write,
                    # and then stores a second copy: space lost, nothing wrong.
                    self.repo.index.add_pack(pack, entries, added_by=self.token)
                    self._pending.difference_update([chunk_id for chunk_id, _offset, _length in entries])
            except BaseException as error:  # noqa: BLE001 - handed to the backup's thread
                self._write_error = error
            finally:
                self._writes.task_done()

    def _check_writer(self):
        """Raise what went wrong on a pack writer thread or with the lock's refresh."""
        if self._write_error is not None:
            raise self._write_error
        if self.lock.error is not None:
            raise self.lock.error

    def commit(self, manifest):
        """Write the recovery point: last, after every chunk it names is stored. Returns its id."""
        self.flush()
        try:
            self.lock.check()
        except RepositoryLocked:  # another writer broke in: a prune may have removed our packs
            raise RepositoryLocked("The repository's writer lock was lost before the recovery point was written") from None
        point_id = manifest.setdefault("id", uuid.uuid4().hex)
        manifest.setdefault("created", now())
        manifest["chunk_size"] = self.repo.chunk_size
        self.repo.storage.write(f"points/{point_id}", self.keys.seal(json.dumps(manifest).encode(), f"points/{point_id}".encode()))
        return point_id


class _ChunkList:
    """A disk's chunk list, built a piece (PIECE_CHUNKS ids) at a time as ids arrive in disk order.
    A piece is written when the ids move past it; a piece no chunk touched keeps the base point's
    piece as it is."""

    def __init__(self, repo, size, base):
        self.repo, self.base = repo, base
        self.count = ceil_div(size, repo.chunk_size)
        self.pieces = []  # names of the finished pieces
        self.open = None  # ids of the open piece, number len(self.pieces)

    def set(self, index, chunk_id):
        number = index // PIECE_CHUNKS
        if number < len(self.pieces):
            raise ValueError("chunks must come in disk order")
        while len(self.pieces) < number:
            self._close()
        if self.open is None:
            self.open = self._start(number)
        self.open[index - number * PIECE_CHUNKS] = chunk_id

    def finish(self):
        while len(self.pieces) * PIECE_CHUNKS < self.count:
            self._close()
        return self.pieces

    def _start(self, number):
        if self.base is not None:
            return self.repo.piece(self.base, number)
        return [ZERO_ID] * min(PIECE_CHUNKS, self.count - number * PIECE_CHUNKS)

    def _close(self):
        number = len(self.pieces)
        if self.open is None and self.base is not None:
            shared = self.base["lists"][number]  # untouched: shared with the base point, if it is still there
            if not self.repo.storage.exists(f"lists/{shared}"):
                raise DamagedData(f"chunk-list piece {shared} of the previous recovery point is missing")
            if shared in self.repo.index.damaged_lists():
                self.repo.piece(self.base, number)  # found damaged once: shared only if it reads whole now
            self.pieces.append(shared)
            return
        self.pieces.append(self.repo.write_piece(self.open if self.open is not None else self._start(number)))
        self.open = None
