"""Checking a repository: every chunk every recovery point needs is read and checked (verify), and
what no point needs any more is removed or repacked (prune)."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from repository.crypto import ZERO_ID
from repository.damage import NO_PACK
from repository.errors import DamagedData, PointNotFound
from repository.layout import LIST_NAME
from repository.packs import pack_path, runs
from repository.storage import ObjectMissing
from repository.threads import THREADS, in_order

REPACK_BELOW = 0.5  # prune repacks a pack whose live chunks are less than this share of its bytes
REPACK_BATCH = 16  # packs repacked between two flushes


class NoProgress:
    """What verify and prune report their bytes to when nobody watches. A caller's own (the job's
    progress bar) may raise from advance() to stop the work between two safe steps: a cancel."""

    def restart(self, total):
        pass

    def advance(self, amount):
        pass


@dataclass
class VerifyReport:
    points: list = field(default_factory=list)
    chunks_checked: int = 0
    damaged_objects: dict = field(default_factory=dict)  # damaged object (pack, index, list, point) -> reason
    affected_points: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.damaged_objects


class Checking:
    """The Repository's verify and prune (it needs storage, keys, index, pieces, load_point, writer)."""

    def _needed_chunks(self, on_damage, each_piece_once=True, seen=None):
        """(point id, non-zero chunk ids) of every recovery point, a piece of a chunk list at a time;
        a piece that several points share is read for the first only, unless not each_piece_once.
        on_damage(point id, object name, reason) for a manifest or piece that cannot be read.
        `seen` (a set, if given) ends up holding the name of every piece, as bytes."""
        seen, damaged_pieces = set() if seen is None else seen, {}  # 32 bytes per distinct piece (GiB of disk)
        for point_id in self.point_ids():
            try:
                disks = self.load_point(point_id)["disks"]
            except PointNotFound:
                continue  # deleted (retention) while we looked
            except DamagedData as error:
                on_damage(point_id, f"points/{point_id}", str(error))
                continue
            for disk in disks:
                for number in range(self.piece_count(disk)):
                    piece_id = bytes.fromhex(disk["lists"][number])
                    if each_piece_once:
                        if piece_id in seen:
                            if piece_id in damaged_pieces:  # a damaged piece affects every point using it
                                on_damage(point_id, *damaged_pieces[piece_id])
                            continue
                        seen.add(piece_id)
                    try:
                        ids = self.piece(disk, number)
                    except DamagedData as error:
                        damaged_pieces[piece_id] = (f"lists/{disk['lists'][number]}", str(error))
                        on_damage(point_id, *damaged_pieces[piece_id])
                        continue
                    yield point_id, [chunk_id for chunk_id in ids if chunk_id != ZERO_ID]

    def verify(self, progress=None):
        """Read every chunk every recovery point needs; name the damaged objects and the points they affect.
        `progress` hears the bytes to read, then each pack's bytes once read (see NoProgress)."""
        progress = progress or NoProgress()
        report = VerifyReport()
        affected, damaged_pieces, damaged_copies = set(), set(), []

        def damaged(point_id, name, reason):
            report.damaged_objects[name] = reason
            affected.add(point_id)
            if name.startswith("lists/"):
                damaged_pieces.add(name.split("/", 1)[1])

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
                # A backup beside us committed a point after the index was read: its packs were stored
                # before its manifest, so the storage lists them now. Only what is still missing is damage.
                self.refresh_index()
                in_no_pack = self.index.missing(needed)
            if in_no_pack:
                report.damaged_objects["(no pack)"] = f"{len(in_no_pack)} chunks are in no pack"
                bad_chunks.update(in_no_pack)
                damaged_copies += [(NO_PACK, chunk_id) for chunk_id in in_no_pack]
            progress.restart(self.index.needed_size(needed))
            with self.index.needed_by_pack(needed) as packs, ThreadPoolExecutor(THREADS) as pool:
                for checked, size in in_order(pool, self._check_pack_sized, packs):
                    self._note_check(report, bad_chunks, *checked)
                    damaged_copies += list(checked[2])
                    progress.advance(size)
        self.note_damage(damaged_copies, damaged_pieces)
        if bad_chunks:
            for point_id, ids in self._needed_chunks(lambda *_: None, each_piece_once=False):
                if point_id not in affected and not bad_chunks.isdisjoint(ids):
                    affected.add(point_id)
        report.affected_points = sorted(affected)
        return report

    def _check_pack_sized(self, pack_entries):
        pack, entries = pack_entries
        return self._check_pack(pack, entries), sum(length for _offset, length, _index, _chunk in entries)

    def _check_pack(self, pack, entries):
        """(pack, chunks checked, {damaged chunk id: reason}) for the given chunks of one pack."""
        checked, bad = 0, {}
        for run in runs(entries):
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

    def prune(self, wait=0, on_wait=None, progress=None):
        """Delete the packs and chunk-list pieces that no recovery point needs any more, and repack the
        packs that are mostly dead: their live chunks are copied (still sealed) into new packs, stored,
        and only then the old packs deleted. Returns the bytes freed. `progress` hears the bytes of the
        packs to delete or repack, then each one's once done: between two of them it may stop the prune,
        which leaves every point whole (a repack batch's originals go only after its copies are stored)."""
        progress = progress or NoProgress()
        def unreadable(_point, name, reason):
            raise DamagedData(f"{name}: {reason}")  # what a damaged manifest needs is unknown: delete nothing

        with self.writer(wait, on_wait, exclusive=True) as writer:
            index, needed_pieces = self.index, set()
            with index.temporary_set(ids for _point, ids in self._needed_chunks(unreadable, seen=needed_pieces)) as needed:
                dead = index.dead_packs(needed, writer.trusted_up_to)
                sparse = index.sparse_packs(needed, writer.trusted_up_to, REPACK_BELOW)
                sizes = {pack: index.pack_size(pack) for pack in dead + sparse}
                progress.restart(sum(sizes.values()))
                freed = 0
                for pack in dead:
                    freed += self._delete_pack(writer, pack)
                    progress.advance(sizes[pack])
                with index.temporary_set([sparse]) as repacking:
                    for at in range(0, len(sparse), REPACK_BATCH):
                        batch = sparse[at:at + REPACK_BATCH]
                        freed += self._repack(writer, batch, needed, repacking)
                        progress.advance(sum(sizes[pack] for pack in batch))
                for name in self.storage.list("lists/"):
                    piece_id = name.split("/", 1)[1]
                    if LIST_NAME.fullmatch(piece_id) and bytes.fromhex(piece_id) not in needed_pieces:
                        writer.check_lock()
                        self.storage.delete(name)
            self._compact_marks(writer, needed_pieces)
            return freed

    def _delete_pack(self, writer, pack):
        """Delete a pack (its index object first: a pack is never half-listed). Returns its chunks' bytes."""
        writer.check_lock()
        self.storage.delete(f"index/{pack}")
        self.storage.delete(pack_path(pack))
        size = self.index.pack_size(pack)
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
                for run in runs(live):
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
