"""What a lab VM's folder holds besides its disks: the manifest, the I/O lock that stands in for the
hypervisor's write barrier, and the change log of the lab workload's writes. Everything is opened
through the VM's folder, never through a symlink (files.py).

    vm.json      {"id", "name", "cloud_service", "region", "power_state", "backup_extension",
                  "disks": [{"name", "file", "format"}]}, and what a test injects: "extension_state"
                  ("ok", "unresponsive", "freeze_fails"), "pausable" (false: writes never pause for
                  a restore), "freeze_timeout" (seconds a snapshot waits for writes to pause)
    io.lock      writers (the lab workload) hold it shared for each write; a snapshot holds it
                 exclusively for its instant
    changes.log  "<disk file> <offset> <length>" per write, after a header line naming the log
    .snapshot-*  a snapshot reading the raw disks in place: its marker and its store of old blocks
                 (lab_in_place.py)
"""

import json
import os
import uuid

from sources.base import BadEntry, SnapshotError
from sources.files import UnsafeFile, open_file

MANIFEST = "vm.json"
MAX_MANIFEST = 1024 * 1024
IO_LOCK = "io.lock"
CHANGE_LOG = "changes.log"
CHANGE_LOG_HEADER = "vaultline-change-log"


class NotAVM(Exception):
    """A folder without a manifest: not a VM, nothing to report."""


def within(extents, size):
    """The change log's extents of one disk, or None (unknown: read it all) if any leaves the disk."""
    if all(0 <= offset < size and 0 < length <= size - offset for offset, length in extents):
        return extents
    return None


def read_manifest(folder_fd):
    """A VM folder's manifest, as an object. NotAVM if there is none, BadEntry if it is not one."""
    try:
        fd = open_file(MANIFEST, folder_fd)
    except FileNotFoundError:
        raise NotAVM() from None
    except (UnsafeFile, OSError) as error:
        raise BadEntry(f"unreadable manifest ({error.__class__.__name__})") from None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_MANIFEST + 1)
    if len(data) > MAX_MANIFEST:
        raise BadEntry("the manifest is too large")
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise BadEntry(f"unreadable manifest ({error.__class__.__name__})") from None
    if not isinstance(manifest, dict):
        raise BadEntry("manifest is not an object")
    return manifest


def open_io_lock(folder_fd):
    """The VM's I/O lock file, created if missing; never through a symlink."""
    try:
        return open_file(IO_LOCK, folder_fd, os.O_RDWR | os.O_CREAT)
    except UnsafeFile as error:
        raise SnapshotError(SnapshotError.DISK_REFUSED, str(error)) from None


def open_change_log(folder_fd):
    """The VM's change log for appending (and reading), created with its header if missing; never
    through a symlink or a file linked from elsewhere."""
    fd = open_file(CHANGE_LOG, folder_fd, os.O_RDWR | os.O_CREAT | os.O_APPEND, mode=0o644, max_links=1)
    handle = os.fdopen(fd, "a+b")
    if handle.tell() == 0:
        # A fresh id, so positions in an older log never match this one.
        handle.write(f"{CHANGE_LOG_HEADER} {uuid.uuid4()}\n".encode("ascii"))
        handle.flush()
    return handle


def read_change_log(folder_fd, since):
    """(position now, {disk file: [(offset, length)]} written since `since`, or None if unknown)."""
    try:
        log = open_change_log(folder_fd)
    except UnsafeFile as error:
        raise SnapshotError(SnapshotError.DISK_REFUSED, str(error)) from None
    with log as handle:
        handle.seek(0)
        header = handle.readline(200).split()
        log_id = header[1].decode() if len(header) == 2 and header[0] == CHANGE_LOG_HEADER.encode() else None
        changes = None
        if since and log_id and since.get("log") == log_id and isinstance(since.get("offset"), int) \
                and since["offset"] >= 0:
            handle.seek(since["offset"])
            changes = {}
            try:
                for line in handle:
                    file_name, offset, length = line.decode("ascii").split()
                    changes.setdefault(file_name, []).append((int(offset), int(length)))
            except ValueError:  # a line torn by a crash: what changed is unknown, so all is read
                changes = None
        handle.seek(0, os.SEEK_END)
        return {"log": log_id, "offset": handle.tell()}, changes
