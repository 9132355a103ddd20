"""The vault repository: content-addressed, deduplicated, compressed and encrypted chunks in packs.

    config                 format, chunk size, and a sealed key check (plain JSON: says how to read the rest)
    packs/<xx>/<pack>      sealed chunks, then a sealed header listing them, then the header's length
    index/<pack>           a sealed copy of that pack's header: which chunks the pack holds, and where
    lists/<piece>          a sealed piece of a disk's chunk list: the ids of up to PIECE_CHUNKS chunks
    points/<point>         a sealed recovery-point manifest: VM configuration, disks, their pieces' names
    locks/                 who is writing: backups share the repository, prune holds it alone (lock.py)
    damaged/<mark>         what verify or a read found damaged (damage.py)

A backup (writer.py) writes packs, then each pack's index, then the chunk-list pieces, then the
manifest last: a crash leaves no half recovery point, only packs whose chunks the next backup finds
in the index and reuses. Disks are cut into fixed-size aligned chunks (see bench/chunking.py for
why); an all-zero chunk is stored nowhere and restored as a hole.

Memory stays flat whatever the disk size: a disk's chunk list is kept in pieces of PIECE_CHUNKS ids
(a piece no chunk changed is shared with the previous point, as it is), and the index of stored chunks
is a SQLite file (index.py), not a dict. Work goes one piece at a time.

The Repository is put together from its parts: opening, the index and the pieces here; reading.py
(restore, download, compare), checking.py (verify, prune), damage.py (damage marks).
"""

import base64
import json
import shutil
import struct
import tempfile
import threading
import uuid
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from repository.checking import Checking
from repository.chunking import ceil_div
from repository.crypto import Keys
from repository.damage import DamageMarks
from repository.errors import DamagedData, PointNotFound, RepositoryError, WrongKey
from repository.index import ChunkIndex
from repository.layout import now
from repository.packs import decode_entries, pack_path, piece_size, split_ids
from repository.reading import Reading
from repository.storage import ObjectMissing
from repository.threads import THREADS, in_order
from repository.writer import BackupWriter

FORMAT_VERSION = 1
DEFAULT_CHUNK_SIZE = 64 * 1024
KEY_CHECK = b"vaultline key check"


class Repository(Reading, Checking, DamageMarks):
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

    # Everything a repository writes, by prefix: destroy() removes these and nothing else.
    OBJECTS = ("points/", "lists/", "index/", "packs/", "damaged/", "locks/", "config")

    def destroy(self):
        """Remove the whole repository (a vault deleted): every object it wrote, the manifests first, the
        config last, under the exclusive lock, so no backup writes meanwhile. Files it did not write stay."""
        with self.writer(exclusive=True):
            for prefix in self.OBJECTS[:-2]:
                for name in self.storage.list(prefix):
                    self.storage.delete(name)
        for name in self.storage.list("locks/"):
            self.storage.delete(name)
        self.storage.delete("config")
        self.storage.remove_leftovers(older_than=0)
        self.storage.remove_empty_folders()

    def writer(self, wait=0, on_wait=None, exclusive=False):
        """A BackupWriter holding the repository's lock (use it as a context manager): shared with other
        backups, or `exclusive` (prune, destroy). While others hold it in a way that excludes this one,
        retry for up to `wait` seconds, calling on_wait() meanwhile."""
        return BackupWriter(self, wait, on_wait, exclusive)

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
        listed = self.listed_packs()
        index.remove_packs(known - listed)
        with ThreadPoolExecutor(THREADS) as pool:
            for pack, entries in in_order(pool, lambda pack: (pack, self._pack_entries(pack)), sorted(listed - known)):
                if entries is not None:
                    index.add_pack(pack, entries)
        self._sync_marks(index)

    def listed_packs(self):
        """The names of the packs whose index object the storage lists now."""
        return {name.split("/", 1)[1] for name in self.storage.list("index/")}

    def _pack_entries(self, pack):
        """A pack's chunks from its index object, or from the sealed copy at the pack's own end when the
        index object is damaged (verify reads every index object again and names it). None if neither
        can be read."""
        try:
            return decode_entries(self.keys.open(self.storage.read(f"index/{pack}"), f"index/{pack}".encode()))
        except ObjectMissing:
            return None  # pruned while we listed
        except DamagedData:
            try:
                return decode_entries(self._pack_header(pack))
            except (DamagedData, ObjectMissing, struct.error, ValueError):
                return None  # its chunks are then in no pack: verify names the points affected

    def _pack_header(self, pack):
        data = self.storage.read(pack_path(pack))
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

    # --- Chunk-list pieces -------------------------------------------------------------

    def chunk_count(self, disk):
        return ceil_div(disk["size"], self.chunk_size)

    def piece_count(self, disk):
        return ceil_div(self.chunk_count(disk), piece_size(disk))

    def piece(self, disk, number):
        """The chunk ids of one piece of a disk's chunk list."""
        size = piece_size(disk)
        piece_id = disk["lists"][number]
        try:
            sealed = self.storage.read(f"lists/{piece_id}")
        except ObjectMissing:
            raise DamagedData(f"chunk-list piece {piece_id} is missing", lists=[piece_id]) from None
        try:
            ids = split_ids(self.keys.open(sealed, f"lists/{piece_id}".encode()))
        except DamagedData as error:
            raise DamagedData(f"chunk-list piece {piece_id}: {error}", lists=[piece_id]) from None
        if len(ids) != min(size, self.chunk_count(disk) - number * size):
            raise DamagedData(f"chunk-list piece {piece_id} has {len(ids)} ids, not what its disk needs",
                              lists=[piece_id])
        return ids

    def pieces(self, disk):
        """(index of its first chunk, chunk ids) for each piece of a disk's chunk list, in order."""
        for number in range(self.piece_count(disk)):
            yield number * piece_size(disk), self.piece(disk, number)

    def chunk_ids(self, disk):
        """Every chunk id of a disk, in order (ZERO_ID for an all-zero chunk)."""
        for _first, ids in self.pieces(disk):
            yield from ids

    def write_piece(self, ids):
        """Store one piece of a chunk list under a name derived from its content; returns the name."""
        data = b"".join(ids)
        piece_id = self.keys.chunk_id(data).hex()
        self.storage.write(f"lists/{piece_id}", self.keys.seal(data, f"lists/{piece_id}".encode()))
        return piece_id
