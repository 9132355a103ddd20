"""The lab source: VMs are folders of real disk-image files, described by a small manifest.

    <root>/<vm id>/vm.json     {"id", "name", "cloud_service", "region", "power_state",
                                "backup_extension", "disks": [{"name", "file", "format"}]}
    <root>/<vm id>/<disk file> a raw or qcow2 image

It is the embedded default, for demos and tests. Manifests are untrusted input: a malformed
one is reported as a problem and skipped, never trusted to point outside its folder.
"""

import contextlib
import fcntl
import json
import os
import random
import re
import shutil
import struct
import subprocess
import time
import uuid
from pathlib import Path

from sources import dirty_bitmaps
from sources.base import (
    APPLICATION,
    CRASH,
    DISK_FORMATS,
    FILE_SYSTEM,
    POWER_STATES,
    VM,
    BadEntry,
    Disk,
    Inventory,
    Snapshot,
    SnapshotDisk,
    SnapshotError,
    SourceUnavailable,
    VMSource,
    clean_label,
)

MANIFEST = "vm.json"
# The lab's stand-in for the hypervisor: writers (the lab workload) hold IO_LOCK shared for each
# write, a snapshot holds it exclusively while it copies the disks, so the copy is one instant.
IO_LOCK = "io.lock"
# The lab workload logs every write here: "<disk file> <offset> <length>" after a header line.
CHANGE_LOG = "changes.log"
CHANGE_LOG_HEADER = "vaultline-change-log"
# What the lab's backup extension does when asked to freeze: "ok", or a failure to rehearse.
EXTENSION_STATES = ("ok", "unresponsive", "freeze_fails")
QCOW2_MAGIC = b"QFI\xfb"
_SAFE_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MiB = 1024 * 1024


class LabSource(VMSource):
    kind = "lab"

    def __init__(self, location, freeze_timeout=30.0):
        self.root = Path(location)
        self.freeze_timeout = freeze_timeout

    def inventory(self):
        if not self.root.is_dir():
            # The folder stays out of the message: every member of the subscription reads it.
            raise SourceUnavailable("The lab folder does not exist (see the VM source in the admin)")
        found = Inventory()
        for folder in sorted(self.root.iterdir()):
            if not (folder / MANIFEST).is_file():
                continue
            try:
                found.vms.append(self._read_vm(folder))
            except BadEntry as error:
                found.problems.append(f"{folder.name}: {error}")
        return found

    def _read_vm(self, folder):
        return self._vm_of(folder, _read_manifest(folder))

    def _vm_of(self, folder, manifest):
        power_state = manifest.get("power_state")
        if power_state not in POWER_STATES:
            raise BadEntry(f"power state must be one of {', '.join(POWER_STATES)}")
        if manifest.get("extension_state", "ok") not in EXTENSION_STATES:
            raise BadEntry(f"extension state must be one of {', '.join(EXTENSION_STATES)}")
        disks = manifest.get("disks")
        if not isinstance(disks, list) or not disks:
            raise BadEntry("a VM needs at least one disk")
        return VM(
            id=clean_label(manifest.get("id"), "id"),
            name=clean_label(manifest.get("name"), "name"),
            cloud_service=clean_label(manifest.get("cloud_service"), "cloud service"),
            region=clean_label(manifest.get("region"), "region"),
            power_state=power_state,
            has_backup_extension=manifest.get("backup_extension") is True,
            disks=tuple(self._read_disk(folder, entry) for entry in disks),
        )

    def _read_disk(self, folder, entry):
        if not isinstance(entry, dict):
            raise BadEntry("a disk entry is not an object")
        file_name = entry.get("file")
        if not isinstance(file_name, str) or not _SAFE_FILE.match(file_name):
            raise BadEntry("a disk file name must be a plain file name in the VM's folder")
        disk_format = entry.get("format")
        if disk_format not in DISK_FORMATS:
            raise BadEntry(f"disk format must be one of {', '.join(DISK_FORMATS)}")
        path = folder / file_name
        if path.is_symlink() or not path.is_file():
            raise BadEntry(f"disk {file_name} is missing")
        return Disk(
            name=clean_label(entry.get("name", file_name), "disk name"),
            path=str(path),
            format=disk_format,
            virtual_size=virtual_size(path, disk_format),
        )


    # --- Snapshots and restores ------------------------------------------------------

    def _find(self, vm_id):
        """The VM, its folder and its manifest. The folder is named by the id; the manifest must agree."""
        folder = self.root / vm_id
        if not _SAFE_FILE.match(vm_id) or not (folder / MANIFEST).is_file():
            raise SnapshotError(SnapshotError.VM_NOT_FOUND, f"VM {vm_id} is not in the lab")
        try:
            manifest = _read_manifest(folder)
            vm = self._vm_of(folder, manifest)
        except BadEntry as error:
            raise SnapshotError(SnapshotError.VM_NOT_FOUND, f"VM {vm_id}: {error}") from None
        if vm.id != vm_id:
            raise SnapshotError(SnapshotError.VM_NOT_FOUND, f"VM {vm_id} is not in the lab")
        return vm, folder, manifest

    @contextlib.contextmanager
    def _io_paused(self, folder):
        """Hold the VM's I/O lock exclusively: no write lands while the disks are captured."""
        with open(folder / IO_LOCK, "a+") as lock:
            deadline = time.monotonic() + self.freeze_timeout
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise SnapshotError(
                            SnapshotError.SNAPSHOT_TIMEOUT,
                            f"The VM's writes did not pause within {self.freeze_timeout:.0f} s",
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def snapshot(self, vm_id, folder, since=None):
        vm, vm_folder, manifest = self._find(vm_id)
        if vm.power_state != "running":
            raise SnapshotError(SnapshotError.VM_NOT_RUNNING, f"{vm.name} is {vm.power_state}")
        extension = manifest.get("extension_state", "ok") if vm.has_backup_extension else None
        if extension == "unresponsive":
            raise SnapshotError(SnapshotError.EXTENSION_NOT_ANSWERING, f"The backup extension of {vm.name} did not answer")
        warnings = []
        if extension is None:
            consistency = CRASH
            warnings.append("The VM has no backup extension: the recovery point is crash-consistent.")
        elif extension == "freeze_fails":
            consistency = FILE_SYSTEM
            warnings.append("The backup extension could not freeze the applications: "
                            "the recovery point is file-system consistent.")
        else:
            consistency = APPLICATION
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        disks = []
        with self._io_paused(vm_folder):
            # Raw disks: the workload's change log. qcow2 disks: qemu's dirty bitmaps, a new one
            # started at each snapshot, read back at the next.
            position, changes = _read_change_log(vm_folder, since)
            position["bitmap"] = dirty_bitmaps.new_bitmap_name()
            since_bitmap = (since or {}).get("bitmap")
            for disk in vm.disks:
                copy = folder / f"{len(disks)}.raw"
                _capture(Path(disk.path), disk.format, copy)
                if disk.format == "raw":
                    changed = None if changes is None else changes.get(Path(disk.path).name, [])
                else:
                    changed = dirty_bitmaps.changes_and_track(disk.path, since_bitmap, position["bitmap"])
                disks.append(SnapshotDisk(name=disk.name, format=disk.format, size=disk.virtual_size,
                                          path=str(copy), changed=changed))
        return Snapshot(vm=vm, consistency=consistency, disks=disks, folder=str(folder),
                        warnings=warnings, change_position=position)

    def create_vm(self, *, name, cloud_service, region, like, disks):
        vm_id = str(uuid.uuid4())
        folder = self.root / vm_id
        folder.mkdir(parents=True)
        entries = []
        for index, (disk_name, disk_format, raw_path) in enumerate(disks):
            file_name = f"disk{index}.{'img' if disk_format == 'raw' else 'qcow2'}"
            _install_disk(Path(raw_path), disk_format, folder / file_name)
            entries.append({"name": disk_name, "file": file_name, "format": disk_format})
        manifest = {
            "id": vm_id, "name": name, "cloud_service": cloud_service, "region": region,
            "power_state": "running", "backup_extension": like.has_backup_extension, "disks": entries,
        }
        _write_json(folder / MANIFEST, manifest)
        return vm_id

    def export_disk(self, vm_id, disk_name, target):
        vm, folder, _manifest = self._find(vm_id)
        disk = next((disk for disk in vm.disks if disk.name == disk_name), None)
        if disk is None:
            raise SnapshotError(SnapshotError.VM_NOT_FOUND, f"{vm.name} has no disk {disk_name!r}")
        with self._io_paused(folder):
            _capture(Path(disk.path), disk.format, Path(target))
        return Path(target)

    def replace_disks(self, vm_id, disks, export_to=None):
        vm, folder, _manifest = self._find(vm_id)
        by_name = {disk.name: disk for disk in vm.disks}
        unknown = set(disks) - set(by_name)
        if unknown:
            raise SnapshotError(SnapshotError.VM_NOT_FOUND, f"{vm.name} has no disk {sorted(unknown)[0]!r}")
        exported = {}
        with self._io_paused(folder):
            for index, (name, raw_path) in enumerate(disks.items()):
                _install_disk(Path(raw_path), by_name[name].format, Path(by_name[name].path))
                if export_to is not None:
                    exported[name] = Path(export_to) / f"installed-{index}.raw"
                    _capture(Path(by_name[name].path), by_name[name].format, exported[name])
            # The disks changed wholesale: the next backup cannot trust the old change log.
            (folder / CHANGE_LOG).unlink(missing_ok=True)
        return exported


def _read_manifest(folder):
    """A VM folder's manifest, as an object. BadEntry if it is not one."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadEntry(f"unreadable manifest ({error.__class__.__name__})") from None
    if not isinstance(manifest, dict):
        raise BadEntry("manifest is not an object")
    return manifest


def virtual_size(path, disk_format):
    """The size the guest sees: the file size for raw, the header's size field for qcow2."""
    if disk_format == "raw":
        return path.stat().st_size
    with open(path, "rb") as image:
        header = image.read(32)
    if len(header) < 32 or header[:4] != QCOW2_MAGIC:
        raise BadEntry(f"disk {path.name} is not a qcow2 image")
    return struct.unpack(">Q", header[24:32])[0]


def _capture(source, disk_format, target):
    """A raw, sparse copy of a disk: holes stay holes, qcow2 is converted."""
    if disk_format == "raw":
        # A reflink clone where the file system can (instant, whatever the size); else a sparse copy.
        subprocess.run(["cp", "--reflink=auto", "--sparse=always", str(source), str(target)], check=True)
    else:
        subprocess.run(["qemu-img", "convert", "-q", "-f", "qcow2", "-O", "raw", "-S", "64k",
                        str(source), str(target)], check=True)


def _install_disk(raw_path, disk_format, target):
    """Put a restored raw image in place as `target`, in the disk's own format, atomically."""
    temporary = target.with_name(f".{target.name}.restoring")
    if disk_format == "raw":
        subprocess.run(["cp", "--sparse=always", str(raw_path), str(temporary)], check=True)
    else:
        subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw_path), str(temporary)],
                       check=True)
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, target)


def _write_json(path, value):
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(value, indent=2, ensure_ascii=False))
    os.replace(temporary, path)


def start_change_log(handle):
    """Give a new (empty) change log its header: a fresh id, so positions in an older log never match it."""
    if handle.tell() == 0:
        handle.write(f"{CHANGE_LOG_HEADER} {uuid.uuid4()}\n")


def _read_change_log(folder, since):
    """(position now, {disk file: [(offset, length)]} written since `since`, or None if unknown)."""
    log = folder / CHANGE_LOG
    if not log.exists():
        with open(log, "a", encoding="ascii") as handle:
            start_change_log(handle)
    with open(log, "rb") as handle:
        header = handle.readline().split()
        log_id = header[1].decode() if len(header) == 2 and header[0] == CHANGE_LOG_HEADER.encode() else None
        changes = None
        if since and log_id and since.get("log") == log_id and isinstance(since.get("offset"), int):
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


# --- Building lab VMs -------------------------------------------------------------------


def create_lab_vm(
    root,
    *,
    name,
    cloud_service,
    region,
    disks=(("raw", 16 * MiB),),
    power_state="running",
    backup_extension=True,
    seed=0,
):
    """Create one lab VM with real disk images holding a mix of text, random bytes and zeros.

    `disks` is a sequence of (format, virtual size in bytes). Returns the VM's folder.
    """
    vm_id = str(uuid.UUID(int=random.Random(f"{seed}-{name}-{cloud_service}").getrandbits(128)))
    folder = Path(root) / vm_id
    folder.mkdir(parents=True, exist_ok=False)
    entries = []
    for index, (disk_format, size) in enumerate(disks):
        file_name = f"disk{index}.{'img' if disk_format == 'raw' else 'qcow2'}"
        write_disk_image(folder / file_name, disk_format, size, seed=f"{vm_id}-{index}")
        entries.append({"name": "OS disk" if index == 0 else f"Data disk {index}",
                        "file": file_name, "format": disk_format})
    manifest = {
        "id": vm_id,
        "name": name,
        "cloud_service": cloud_service,
        "region": region,
        "power_state": power_state,
        "backup_extension": backup_extension,
        "disks": entries,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    return folder


def build_lab(root, specs):
    """Create a lab VM for each (name, cloud service, region, disks, power state, backup extension)."""
    for seed, (name, service, region, disks, power_state, extension) in enumerate(specs):
        create_lab_vm(root, name=name, cloud_service=service, region=region, disks=disks,
                      power_state=power_state, backup_extension=extension, seed=seed)


def write_disk_image(path, disk_format, size, seed):
    """Write a disk image of `size` bytes: 1 MiB regions of text, random data, or holes."""
    raw_path = path if disk_format == "raw" else path.with_suffix(".tmp-raw")
    rng = random.Random(seed)
    with open(raw_path, "wb") as image:
        image.truncate(size)
        for offset in range(0, size, MiB):
            length = min(MiB, size - offset)
            kind = rng.choices(("zero", "text", "random"), weights=(4, 4, 2))[0]
            if kind == "zero":
                continue  # left as a hole: reads as zeros
            image.seek(offset)
            image.write(_region(rng, kind, length, offset))
    if disk_format == "qcow2":
        if shutil.which("qemu-img") is None:
            raise SourceUnavailable("qemu-img is needed to build qcow2 disks (Debian: qemu-utils)")
        subprocess.run(
            ["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw_path), str(path)],
            check=True,
        )
        raw_path.unlink()


def _region(rng, kind, length, offset):
    if kind == "random":
        return rng.randbytes(length)
    line = f"{offset:012x} lab workload wrote record {rng.randrange(10**6):06d}\n".encode()
    return (line * (length // len(line) + 1))[:length]
