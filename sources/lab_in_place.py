"""Reading a lab VM's raw disks in place while it keeps running: copy-before-write, as LVM snapshots do.

Where the file system cannot share a disk's blocks (a reflink: btrfs, XFS), a snapshot no longer
copies the disk. With the VM's writes paused it only writes a marker; from then on the workload (the
lab's hypervisor) saves a block's old bytes into the snapshot's store before it first overwrites the
block, and the backup reads the disk where it lies, taking every saved block from the store. The pause
lasts milliseconds whatever the disk's size; nothing is written twice but the blocks the VM rewrites
during the backup; a worker killed mid-backup leaves the disk itself whole (only its marker and store
stay, until the next snapshot of the VM removes them).

    .snapshot-<id>.json      {"disks": {<disk file>: {"store": <n>, "inode": [dev, ino]}}}: the snapshot's
                             reader holds it locked (flock, shared) for as long as it reads
    .snapshot-<id>-<n>       a disk's saved old blocks, each at its own offset (a sparse file)
    .snapshot-<id>-<n>.log   (offset, length) of each saved block, 16 bytes each, in the order saved

The names begin with a dot, which no disk file's name may (lab.py), so no manifest can make a disk of
them. A block is saved only from the very file the snapshot opened (its inode): a disk replaced since
is another file. Why a read stays exact: under the log's lock, the workload saves a block and records
it, and only then writes the disk; the backup reads a chunk of the disk and only then reads the log.
If the chunk held any new byte, that block's record was written before the read, so the backup sees it
and takes the old bytes from the store.
"""

import contextlib
import fcntl
import json
import os
import re
import struct
import uuid

from repository.chunking import fd_chunks
from sources.files import UnsafeFile, create_new, descriptor, open_file

PREFIX = ".snapshot-"
OURS = re.compile(r"\.snapshot-([0-9a-f]{16})(\.json|-[0-9]+|-[0-9]+\.log)")
RECORD = struct.Struct("<QQ")  # offset, length
SAVE_BLOCK = 4096  # blocks are saved whole, 4 KiB aligned
MAX_MARKER = 64 * 1024
_SEEN = {}  # (name, device, inode) of a store's log -> its LogTail, in this process


def marker_name(snapshot_id):
    return f"{PREFIX}{snapshot_id}.json"


def store_name(snapshot_id, number):
    return f"{PREFIX}{snapshot_id}-{number}"


class InPlaceSnapshot:
    """A snapshot being read in place: a reader per disk, and the marker held locked until close()."""

    def __init__(self, folder_fd, disks):
        """With the VM's writes paused: snapshot these (disk file, open disk descriptor, size) of raw
        disks. What a snapshot whose reader died left behind goes first."""
        remove_stale(folder_fd)
        self.id = uuid.uuid4().hex[:16]
        self.folder_fd = os.dup(folder_fd)
        self.marker_fd = None
        self.readers = []
        try:
            entries = {}
            for number, (disk_file, disk_fd, size) in enumerate(disks):
                info = os.fstat(disk_fd)
                entries[disk_file] = {"store": number, "inode": [info.st_dev, info.st_ino]}
                name = store_name(self.id, number)
                with contextlib.ExitStack() as opened:  # closed here only if the next one fails
                    fds = [os.dup(disk_fd)]
                    opened.callback(os.close, fds[0])
                    for file_name in (name, name + ".log"):
                        fds.append(create_new(file_name, folder_fd))
                        opened.callback(os.close, fds[-1])
                    self.readers.append(InPlaceDisk(*fds, size))
                    opened.pop_all()
            marker = json.dumps({"disks": entries}).encode()
            if len(marker) > MAX_MARKER:  # the workload would not read it: it must never be skipped
                raise ValueError("too many disks for one snapshot's marker")
            # Last, once the stores are there (the workload is paused meanwhile, so it never sees half).
            self.marker_fd = create_new(marker_name(self.id), folder_fd)
            fcntl.flock(self.marker_fd, fcntl.LOCK_SH)
            _write_all(self.marker_fd, marker)
        except BaseException:
            self.close()
            raise

    def close(self):
        """The backup has read what it needed: the workload stops saving for it, and the store goes."""
        for reader in self.readers:
            reader.close()
        self.readers = []
        _remove(self.folder_fd, self.id)
        if self.marker_fd is not None:
            os.close(self.marker_fd)
            self.marker_fd = None
        if self.folder_fd is not None:
            os.close(self.folder_fd)
            self.folder_fd = None


def _remove(folder_fd, snapshot_id):
    """The marker first (the workload stops saving), then the stores."""
    names = sorted((name for name in os.listdir(folder_fd) if (found := OURS.fullmatch(name)) and found[1] == snapshot_id),
                   key=lambda name: not name.endswith(".json"))
    for name in names:
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            os.unlink(name, dir_fd=folder_fd)


def remove_stale(folder_fd):
    """Remove the snapshots nobody reads any more (their marker unlocked, or gone) and their stores."""
    ids = {found[1] for name in os.listdir(folder_fd) if (found := OURS.fullmatch(name))}
    for snapshot_id in ids:
        if not _being_read(folder_fd, snapshot_id):
            _remove(folder_fd, snapshot_id)


def _being_read(folder_fd, snapshot_id):
    try:
        fd = open_file(marker_name(snapshot_id), folder_fd)
    except (FileNotFoundError, UnsafeFile):
        return False
    with descriptor(fd):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False


def markers(folder_fd):
    """{snapshot id: marker} of the snapshots in the VM's folder; unreadable ones left out."""
    found = {}
    for name in os.listdir(folder_fd):
        match = OURS.fullmatch(name)
        if not match or match[2] != ".json":
            continue
        try:
            fd = open_file(name, folder_fd, max_links=1)
        except (FileNotFoundError, UnsafeFile):
            continue
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(MAX_MARKER + 1)
        try:
            marker = json.loads(data)
        except (UnicodeDecodeError, ValueError):
            continue
        if isinstance(marker, dict) and isinstance(marker.get("disks"), dict):
            found[match[1]] = marker
    return found


def save_before_writing(folder_fd, disk_file, disk_fd, writes):
    """The workload, before it writes (offset, length) regions of a raw disk, with the VM's I/O lock held
    shared: for each snapshot reading this very file, the old bytes of each block it has not saved yet
    go to its store. A block that cannot be saved (the disk full) raises: better a VM write that fails
    than a backup that holds bytes from after its instant."""
    info = os.fstat(disk_fd)
    for snapshot_id, marker in markers(folder_fd).items():
        entry = marker["disks"].get(disk_file)
        if not isinstance(entry, dict) or entry.get("inode") != [info.st_dev, info.st_ino] \
                or not isinstance(entry.get("store"), int):
            continue
        _save(folder_fd, store_name(snapshot_id, entry["store"]), disk_fd, info.st_size, writes)


def _save(folder_fd, name, disk_fd, size, writes):
    with contextlib.ExitStack() as opened:
        try:
            store_fd = opened.enter_context(descriptor(open_file(name, folder_fd, os.O_RDWR, max_links=1)))
            log_fd = opened.enter_context(descriptor(open_file(name + ".log", folder_fd, os.O_RDWR | os.O_APPEND,
                                                               max_links=1)))
        except FileNotFoundError:
            return  # the snapshot just ended
        fcntl.flock(log_fd, fcntl.LOCK_EX)  # one saver at a time: a block is saved once, before any write
        info = os.fstat(log_fd)
        records_end = info.st_size // RECORD.size * RECORD.size
        os.ftruncate(log_fd, records_end)  # half a record a killed saver left: its block was never written
        saved = _saved_blocks(log_fd, (name, info.st_dev, info.st_ino))  # the name holds the snapshot's id
        taken = set()  # saved by this call (recorded below, read back by the next)
        records = []
        for offset, length in writes:
            for block in range(offset // SAVE_BLOCK * SAVE_BLOCK, min(offset + length, size), SAVE_BLOCK):
                if block in saved or block in taken:
                    continue
                old = os.pread(disk_fd, min(SAVE_BLOCK, size - block), block)
                if os.pwrite(store_fd, old, block) != len(old):
                    raise OSError("the snapshot's store took only part of a block")
                records.append(RECORD.pack(block, len(old)))
                taken.add(block)
        if records:
            try:  # after the bytes: a record always names bytes that are there
                _write_all(log_fd, b"".join(records))
            except BaseException:
                os.ftruncate(log_fd, records_end)  # none of them, then: the writes that needed them fail
                raise


def _saved_blocks(log_fd, log_key):
    """{offset: length} of the blocks a store's log records, read on from where this process last read
    that log (under the log's lock, so nothing is appended meanwhile): a busy VM does not read the
    whole log per write."""
    tail = _SEEN.get(log_key)
    if tail is None:
        if len(_SEEN) >= 64:
            _SEEN.clear()  # logs of snapshots long ended
        tail = _SEEN[log_key] = LogTail()
    return tail.read(log_fd)


def _write_all(fd, data):
    """Write all of `data`, or raise (a full disk gives a short write, not an error)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written == 0:
            raise OSError("nothing more could be written")
        view = view[written:]


class LogTail:
    """What a store's log records, read on from where it was last read (a record being appended is
    taken next time): the workload's and the backup's view of one log alike."""

    def __init__(self):
        self.at = 0
        self.saved = {}  # offset -> length of each saved block (SAVE_BLOCK aligned)

    def read(self, log_fd):
        parts, read = [], 0
        while chunk := os.pread(log_fd, 1 << 20, self.at + read):
            parts.append(chunk)
            read += len(chunk)
        data = b"".join(parts)
        whole = len(data) - len(data) % RECORD.size
        self.saved.update(RECORD.unpack_from(data, start) for start in range(0, whole, RECORD.size))
        self.at += whole
        return self.saved


class InPlaceDisk:
    """A raw disk read where it lies, as it was at the snapshot (see the module's docstring). Owns the
    descriptors it is given: the disk, and its store and log."""

    def __init__(self, disk_fd, store_fd, log_fd, size):
        self.disk_fd, self.store_fd, self.log_fd, self.size = disk_fd, store_fd, log_fd, size
        self._tail = LogTail()

    def chunks(self, chunk_size, only=None):
        """(index, bytes or None for a hole) of the disk as it was at the snapshot (see fd_chunks)."""
        for index, data in fd_chunks(self.disk_fd, self.size, chunk_size, only):
            yield index, self._as_it_was(index * chunk_size, data)

    def _as_it_was(self, start, data):
        saved = self._tail.read(self.log_fd)  # after the disk was read: see the module's docstring
        if not saved or data is None:
            return data  # a hole when read was a hole at the snapshot too: blocks are never punched out
        chunk = None
        for block in range(start // SAVE_BLOCK * SAVE_BLOCK, start + len(data), SAVE_BLOCK):
            length = saved.get(block)
            if length is None:
                continue
            chunk = chunk if chunk is not None else bytearray(data)
            old = os.pread(self.store_fd, length, block)
            if len(old) != length:
                raise OSError(f"the snapshot's store lacks the block saved at {block}")
            low, high = max(block, start), min(block + length, start + len(chunk))
            chunk[low - start:high - start] = old[low - block:high - block]
        return data if chunk is None else bytes(chunk)

    def close(self):
        for fd in (self.disk_fd, self.store_fd, self.log_fd):
            os.close(fd)
