"""Damage found, written down: what verify or a read finds damaged (a chunk's copy in one pack, a
chunk that no pack holds, a piece of a chunk list) becomes a sealed, add-only object in the repository
(damaged/<mark>: no lock needed), synced into every host's index cache with the packs. No backup on
any host deduplicates against a damaged copy again, nor builds an incremental on a point that needs
one: the next backup stores those chunks anew from its source, and reads take the new copy.
"""

import contextlib
import json
import uuid

from repository.crypto import ZERO_ID
from repository.errors import DamagedData, PointNotFound, RepositoryError
from repository.layout import LIST_NAME, now
from repository.storage import ObjectMissing

NO_PACK = ""  # the "pack" of a damage mark for a chunk that no pack holds
LOCAL_MARK = "local:"  # a mark the storage would not take: kept in this host's index cache only
MARKS = "damaged/"


class DamageMarks:
    """The Repository's part that keeps damage marks (it needs storage, keys, index, pieces, load_point)."""

    def _sync_marks(self, index):
        """Add the marks the storage lists and the cache lacks; drop those it no longer lists."""
        known = {name for name in index.mark_names() if not name.startswith(LOCAL_MARK)}
        listed = set(self.storage.list(MARKS))
        index.remove_marks(known - listed)
        for name in sorted(listed - known):
            mark = self._read_mark(name)
            if mark is not None:
                index.add_mark(name, *mark)

    def _read_mark(self, name):
        """((pack, chunk id) copies, list ids) of a damage mark; None if it is gone or unreadable."""
        try:
            mark = json.loads(self.keys.open(self.storage.read(name), name.encode()))
            return ([(pack, bytes.fromhex(chunk)) for pack, chunk in mark["chunks"]],
                    [list_id for list_id in mark["lists"] if LIST_NAME.fullmatch(list_id)])
        except (ObjectMissing, DamagedData, ValueError, KeyError, TypeError):
            return None

    def note_damage(self, chunks=(), lists=()):
        """Write down (pack, chunk id) copies and chunk-list pieces found damaged. Best effort: a
        storage that cannot take the mark now (full, read-only) is found damaged again by verify."""
        known_chunks, known_lists = self.index.damage()
        known_chunks = set(known_chunks)
        chunks = [copy for copy in dict.fromkeys(chunks) if copy not in known_chunks]
        lists = [list_id for list_id in dict.fromkeys(lists) if list_id not in known_lists]
        if not chunks and not lists:
            return
        try:
            self._write_mark(chunks, lists)
        except (OSError, RepositoryError):
            # The storage takes nothing now (full, read-only): this host still never builds on it.
            self.index.add_mark(f"{LOCAL_MARK}{uuid.uuid4().hex}", chunks, lists)

    def _write_mark(self, chunks, lists):
        name = f"{MARKS}{uuid.uuid4().hex}"
        mark = {"chunks": [[pack, chunk_id.hex()] for pack, chunk_id in chunks], "lists": lists, "at": now()}
        self.storage.write(name, self.keys.seal(json.dumps(mark).encode(), name.encode()))
        self.index.add_mark(name, chunks, lists)

    def _compact_marks(self, writer, live_lists):
        """In a prune: drop from the damage marks what no longer exists (pruned packs and pieces)."""
        names = self.index.mark_names()
        if not names:
            return
        chunks, lists = self.index.damage()
        packs = set(self.index.pack_names())
        still_missing = self.index.unrepaired([chunk_id for pack, chunk_id in chunks if pack == NO_PACK])
        kept_chunks = [(pack, chunk_id) for pack, chunk_id in chunks
                       if pack in packs or (pack == NO_PACK and chunk_id in still_missing)]
        kept_lists = [list_id for list_id in lists
                      if bytes.fromhex(list_id) in live_lists and not self._reads_whole(list_id)]
        if len(kept_chunks) == len(chunks) and len(kept_lists) == len(lists):
            return
        if kept_chunks or kept_lists:
            self._write_mark(kept_chunks, kept_lists)
        for name in names:
            if name.startswith(MARKS):
                writer.check_lock()
                self.storage.delete(name)
        self.index.remove_marks(names)

    @contextlib.contextmanager
    def _noting_damage(self):
        try:
            yield
        except DamagedData as error:
            self.note_damage(error.chunks, error.lists)
            raise

    def _reads_whole(self, list_id):
        try:
            self.keys.open(self.storage.read(f"lists/{list_id}"), f"lists/{list_id}".encode())
            return True
        except (ObjectMissing, DamagedData):
            return False

    def refers_to_damage(self, disk):
        """True if the disk (a point's manifest entry) needs a chunk no good copy holds, or a chunk-list
        piece found damaged: a backup must then read it whole, not build on it."""
        if not self.index.has_damage():
            return False
        try:  # a piece once found damaged counts only while it does not read whole (a full read rewrites it)
            return any(self.index.unrepaired([chunk_id for chunk_id in ids if chunk_id != ZERO_ID])
                       for _first, ids in self.pieces(disk))
        except DamagedData:
            return True

    def is_restorable(self, point_id):
        """False if the point is known to need something damaged (its manifest, a chunk list, a chunk
        no good copy holds). Reads chunk lists only, and only where damage was found."""
        try:
            disks = self.load_point(point_id)["disks"]
        except (PointNotFound, DamagedData):
            return False
        return not any(self.refers_to_damage(disk) for disk in disks)
