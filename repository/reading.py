"""Reading a repository: chunks checked against their ids, fetched a run of a pack at a time, and a
point's disk restored to a file, streamed for a download, or compared with an image."""

import collections
import contextlib
import os
from concurrent.futures import ThreadPoolExecutor

from repository.chunking import file_chunks
from repository.crypto import ZERO_ID
from repository.damage import NO_PACK
from repository.direct_io import ImageFile
from repository.errors import DamagedData, PointNotFound
from repository.packs import all_zero, pack_path, runs
from repository.storage import ObjectMissing
from repository.threads import THREADS, in_order

WRITE_SIZE = 1024 * 1024  # a restore writes neighbouring chunks together, up to this much at once


class Reading:
    """The Repository's reading part (it needs storage, keys, index, chunk_size, pieces, load_point)."""

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
            # A backup that ran beside ours (or after this index was read) stored them: look again, once.
            self.refresh_index()
            found.update(self.index.locate(missing))
            missing = [chunk_id for chunk_id in missing if chunk_id not in found]
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
            for run in runs(sorted(entries)):
                yield pack, run

    def _fetch_run(self, pack, run):
        """One ranged read covering a run: a function giving each (offset, length)'s sealed bytes."""
        start = run[0][0]
        end = max(offset + length for offset, length, _index, _chunk_id in run)
        data = memoryview(self.storage.read_range(pack_path(pack), start, end - start))
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
        out = ImageFile(out_path, disk["size"])
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

                reads = (read for first, ids in self.pieces(disk) for read in self._reads(first, ids))
                with ThreadPoolExecutor(THREADS) as pool:
                    for written in in_order(pool, lambda read: restore_run(*read), reads):
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
            for first, ids in self.pieces(disk):
                where = self._locate([chunk_id for chunk_id in ids if chunk_id != ZERO_ID])
                for index, chunk_id in enumerate(ids, first):
                    yield index, chunk_id, where.get(chunk_id)

        def fetch(item):
            index, chunk_id, location = item
            return index, None if chunk_id == ZERO_ID else self.read_chunk(chunk_id, location)

        with ThreadPoolExecutor(THREADS) as pool:
            yield from in_order(pool, fetch, located(), THREADS * 4)

    def matches(self, point_id, disk_index, path):
        """True if the raw image at `path` holds exactly the recovery point's disk: every chunk's
        keyed id is computed again and compared with the manifest's."""
        disk = self._disk(point_id, disk_index)
        if os.path.getsize(path) != disk["size"]:
            return False
        for (_index, data), expected in zip(file_chunks(path, self.chunk_size), self.chunk_ids(disk), strict=True):
            actual = ZERO_ID if data is None or all_zero(data) else self.keys.chunk_id(data)
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
