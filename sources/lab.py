"""The lab source: VMs are folders of real disk-image files, described by a small manifest.

    <root>/<vm id>/vm.json     the VM's manifest (lab_folder.py says what a VM folder holds)
    <root>/<vm id>/<disk file> a raw or qcow2 image (a qcow2 image's backing files sit beside it)

It is the embedded default, for demos and tests. Everything in a VM's folder is untrusted input: a
malformed manifest, a folder or file that is a symlink, a qcow2 chain that leaves the folder, a name
with control characters is reported as a problem and skipped. Each VM folder is opened once (never
through a symlink, so never outside the root) and every file in it is opened through that folder
(see files.py and images.py); a disk is identified by its file, never by its display name.
"""

import contextlib
import fcntl
import json
import os
import re
import time
import uuid
from pathlib import Path

from sources import dirty_bitmaps, lab_in_place
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
    shown,
)
from sources.files import UnsafeFile, create_exclusive, create_new, descriptor, open_folder, reflink, write_file
from sources.images import ImageRefused, capture, install, open_image
from sources.lab_folder import (
    CHANGE_LOG,
    MANIFEST,
    NotAVM,
    open_io_lock,
    read_change_log,
    read_manifest,
    within,
)

# What the lab's backup extension does when asked to freeze: "ok", or a failure to rehearse.
EXTENSION_STATES = ("ok", "unresponsive", "freeze_fails")
_SAFE_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class _DiskRefused(BadEntry):
    """The VM is there, but one of its disks cannot be read safely."""


class LabSource(VMSource):
    kind = "lab"

    def __init__(self, location, freeze_timeout=30.0):
        self.root = Path(location)
        self.freeze_timeout = freeze_timeout

    @contextlib.contextmanager
    def _root(self):
        try:
            fd = open_folder(str(self.root))
        except (OSError, UnsafeFile):
            # The folder stays out of the message: every member of the subscription reads it.
            raise SourceUnavailable("The lab folder does not exist (see the VM source in the admin)") from None
        with descriptor(fd):
            yield fd

    def inventory(self):
        found = Inventory()
        with self._root() as root_fd:
            for entry in sorted(os.scandir(root_fd), key=lambda entry: entry.name):
                if entry.is_symlink():
                    found.problems.append(f"{shown(entry.name)}: the VM folder is a symbolic link")
                    continue
                if not entry.is_dir(follow_symlinks=False):
                    continue
                try:
                    with self._open_vm(root_fd, entry.name) as (_folder_fd, vm, _manifest):
                        found.vms.append(vm)
                except NotAVM:
                    continue
                except BadEntry as error:
                    found.problems.append(f"{shown(entry.name)}: {error}")
        return found

    def get_vm(self, vm_id):
        """The VM of the folder `vm_id` alone (not the whole lab: a Register reads one VM, however many
        the lab holds), or None when there is no such VM or its folder is no longer a good one."""
        if not isinstance(vm_id, str) or not vm_id or "/" in vm_id or "\0" in vm_id or vm_id in (".", ".."):
            return None  # a folder name only, never a path out of the lab
        with self._root() as root_fd:
            try:
                with self._open_vm(root_fd, vm_id) as (_folder_fd, vm, _manifest):
                    return vm
            except (NotAVM, BadEntry):
                return None

    @contextlib.contextmanager
    def _open_vm(self, root_fd, name):
        """(folder descriptor, VM, manifest) of the VM folder `name`, opened once without following symlinks."""
        try:
            folder_fd = open_folder(name, root_fd)
        except UnsafeFile:
            raise BadEntry("the VM folder is a symbolic link") from None
        except FileNotFoundError:
            raise NotAVM() from None
        with descriptor(folder_fd):
            manifest = read_manifest(folder_fd)
            yield folder_fd, self._vm_of(name, folder_fd, manifest), manifest

    def _vm_of(self, folder_name, folder_fd, manifest):
        vm_id = clean_label(manifest.get("id"), "id")
        if vm_id != folder_name:
            # So no two manifests can claim one VM: the id is the folder's own name.
            raise BadEntry("the manifest's id is not its folder's name (a copy of another VM?)")
        power_state = manifest.get("power_state")
        if power_state not in POWER_STATES:
            raise BadEntry(f"power state must be one of {', '.join(POWER_STATES)}")
        if manifest.get("extension_state", "ok") not in EXTENSION_STATES:
            raise BadEntry(f"extension state must be one of {', '.join(EXTENSION_STATES)}")
        disks = manifest.get("disks")
        if not isinstance(disks, list) or not disks:
            raise BadEntry("a VM needs at least one disk")
        disks = tuple(self._read_disk(folder_name, folder_fd, entry) for entry in disks)
        if len({disk.key for disk in disks}) != len(disks):
            raise BadEntry("two of its disks are the same file")
        return VM(
            id=vm_id,
            name=clean_label(manifest.get("name"), "name"),
            cloud_service=clean_label(manifest.get("cloud_service"), "cloud service"),
            region=clean_label(manifest.get("region"), "region"),
            power_state=power_state,
            has_backup_extension=manifest.get("backup_extension") is True,
            disks=disks,
            # A rehearsal: a VM whose writes cannot be paused (the lab's workload honours io.lock).
            can_pause=manifest.get("pausable", True) is not False,
        )

    def _read_disk(self, folder_name, folder_fd, entry):
        if not isinstance(entry, dict):
            raise BadEntry("a disk entry is not an object")
        file_name = entry.get("file")
        if not isinstance(file_name, str) or not _SAFE_FILE.fullmatch(file_name) or file_name == MANIFEST:
            raise BadEntry("a disk file name must be a plain file name in the VM's folder")
        disk_format = entry.get("format")
        if disk_format not in DISK_FORMATS:
            raise BadEntry(f"disk format must be one of {', '.join(DISK_FORMATS)}")
        try:
            with open_image(folder_fd, file_name, disk_format) as image:
                size = image.virtual_size
        except ImageRefused as error:
            raise _DiskRefused(str(error)) from None
        return Disk(
            key=file_name,
            name=clean_label(entry.get("name", file_name), "disk name"),
            path=str(self.root / folder_name / file_name),
            format=disk_format,
            virtual_size=size,
        )

    # --- Snapshots and restores ------------------------------------------------------

    @contextlib.contextmanager
    def _find(self, vm_id):
        """(folder descriptor, VM, manifest) of the VM with this id, which is its folder's name."""
        if not isinstance(vm_id, str) or not _SAFE_FILE.fullmatch(vm_id):
            raise SnapshotError(SnapshotError.VM_NOT_FOUND, f"VM {shown(vm_id)} is not in the lab")
        with self._root() as root_fd:
            try:
                with self._open_vm(root_fd, vm_id) as found:
                    yield found
            except NotAVM:
                raise SnapshotError(SnapshotError.VM_NOT_FOUND, f"VM {vm_id} is not in the lab") from None
            except _DiskRefused as error:
                raise SnapshotError(SnapshotError.DISK_REFUSED, f"VM {vm_id}: {error}") from None
            except BadEntry as error:
                raise SnapshotError(SnapshotError.VM_NOT_FOUND, f"VM {vm_id}: {error}") from None

    @contextlib.contextmanager
    def _io_paused(self, folder_fd, timeout):
        """Hold the VM's I/O lock exclusively: no write lands while the disks are captured."""
        with descriptor(open_io_lock(folder_fd)) as lock:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise SnapshotError(
                            SnapshotError.SNAPSHOT_TIMEOUT,
                            f"The VM's writes did not pause within {timeout:g} s",
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def snapshot(self, vm_id, folder, since=None):
        """The VM's disks as they are at one instant, its writes paused for that instant only where the
        file system shares blocks (a reflink) or the disk is raw (read in place: lab_in_place.py);
        a qcow2 disk is still converted to a raw copy meanwhile."""
        with self._find(vm_id) as (folder_fd, vm, manifest), contextlib.ExitStack() as opened:
            consistency, warnings = _consistency(vm, manifest)
            # Every disk and every file of its chain opened (and checked) once; the copy reads those files.
            images = [opened.enter_context(_open_checked(folder_fd, disk)) for disk in vm.disks]
            os.makedirs(folder, mode=0o700, exist_ok=True)
            target_fd = opened.enter_context(descriptor(open_folder(str(folder))))
            disks = []
            with contextlib.ExitStack() as held, self._io_paused(folder_fd, _freeze_timeout(manifest, self.freeze_timeout)):
                # Raw disks: the workload's change log. qcow2 disks: qemu's dirty bitmaps, a new one
                # started at each snapshot, read back at the next.
                position, changes = read_change_log(folder_fd, since)
                position["bitmap"] = dirty_bitmaps.new_bitmap_name()
                since_bitmap = (since or {}).get("bitmap")
                in_place = []
                for index, (disk, image) in enumerate(zip(vm.disks, images, strict=True)):
                    copy = f"{index}.raw"
                    with descriptor(create_new(copy, target_fd)) as copy_fd:
                        if disk.format == "raw":
                            copied = reflink(image.fd, copy_fd, image.virtual_size)
                        else:
                            capture(image, copy_fd)
                            copied = True
                    if not copied:
                        os.unlink(copy, dir_fd=target_fd)
                        in_place.append(index)
                    if disk.format == "raw":
                        changed = within(changes.get(disk.key, []), image.virtual_size) if changes is not None else None
                    else:
                        changed = dirty_bitmaps.changes_and_track(image, since_bitmap, position["bitmap"])
                    disks.append(SnapshotDisk(key=disk.key, name=disk.name, format=disk.format,
                                              size=image.virtual_size, path=str(Path(folder) / copy), changed=changed))
                readers = _read_in_place(folder_fd, [(vm.disks[index], images[index]) for index in in_place], held)
                for index, reader in zip(in_place, readers, strict=True):
                    disks[index].path, disks[index].reader = vm.disks[index].path, reader
                releases = [held.pop_all().close]  # held from here on by the snapshot, until released
        return Snapshot(vm=vm, consistency=consistency, disks=disks, folder=str(folder),
                        warnings=warnings, change_position=position, releases=releases)

    def create_vm(self, *, name, cloud_service, region, like, disks):
        if any(vm.name == name and vm.cloud_service == cloud_service for vm in self.inventory().vms):
            raise SnapshotError(SnapshotError.VM_NAME_TAKEN, f"{cloud_service} already has a VM named {name}")
        vm_id = str(uuid.uuid4())
        with self._root() as root_fd:
            os.mkdir(vm_id, 0o755, dir_fd=root_fd)
            with descriptor(open_folder(vm_id, root_fd)) as folder_fd:
                entries = []
                for index, (disk_name, disk_format, raw_path) in enumerate(disks):
                    file_name = f"disk{index}.{'img' if disk_format == 'raw' else 'qcow2'}"
                    _install_disk(folder_fd, raw_path, disk_format, file_name)
                    entries.append({"name": disk_name, "file": file_name, "format": disk_format})
                manifest = {
                    "id": vm_id, "name": name, "cloud_service": cloud_service, "region": region,
                    "power_state": "running", "backup_extension": like.has_backup_extension, "disks": entries,
                }
                write_file(folder_fd, MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False).encode())
        return vm_id

    def export_disk(self, vm_id, disk_key, target):
        with self._find(vm_id) as (folder_fd, vm, manifest):
            disk = _disk_of(vm, disk_key)
            with _open_checked(folder_fd, disk) as image, \
                    self._io_paused(folder_fd, _freeze_timeout(manifest, self.freeze_timeout)):
                _capture_to(image, target)
        return Path(target)

    def replace_disks(self, vm_id, disks, export_to=None):
        with self._find(vm_id) as (folder_fd, vm, manifest):
            if vm.power_state == "running" and not vm.can_pause:
                raise SnapshotError(SnapshotError.VM_RUNNING, f"{vm.name} is running and its writes cannot be paused")
            chosen = [(_disk_of(vm, key), raw_path) for key, raw_path in disks.items()]
            exported = {}
            with self._io_paused(folder_fd, _freeze_timeout(manifest, self.freeze_timeout)):
                lab_in_place.remove_stale(folder_fd)  # what a killed worker's snapshot left
                for index, (disk, raw_path) in enumerate(chosen):
                    _install_disk(folder_fd, raw_path, disk.format, disk.key)
                    if export_to is not None:
                        exported[disk.key] = Path(export_to) / f"installed-{index}.raw"
                        with _open_checked(folder_fd, disk) as image:
                            _capture_to(image, exported[disk.key])
                # The disks changed wholesale: the next backup cannot trust the old change log.
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(CHANGE_LOG, dir_fd=folder_fd)
        return exported


def _read_in_place(folder_fd, disks, held):
    """With the VM's writes paused: a reader of each (disk, image) as it is now, where it lies (see
    lab_in_place.py). `held` (an ExitStack) ends the snapshot."""
    if not disks:
        return []
    snapshot = lab_in_place.InPlaceSnapshot(folder_fd, [(disk.key, image.fd, image.virtual_size)
                                                         for disk, image in disks])
    held.callback(snapshot.close)
    return snapshot.readers


def _freeze_timeout(manifest, longest):
    """How long a snapshot waits for the VM's writes to pause: the source's, or less where the VM's
    manifest says so (a lab VM whose guest gives up sooner, as a test makes one)."""
    wanted = manifest.get("freeze_timeout")
    if isinstance(wanted, (int, float)) and not isinstance(wanted, bool) and 0 < wanted < longest:
        return float(wanted)
    return longest


def _consistency(vm, manifest):
    """(consistency, warnings) the backup extension gives, or SnapshotError when none can be had."""
    if vm.power_state != "running":
        raise SnapshotError(SnapshotError.VM_NOT_RUNNING, f"{vm.name} is {vm.power_state}")
    extension = manifest.get("extension_state", "ok") if vm.has_backup_extension else None
    if extension == "unresponsive":
        raise SnapshotError(SnapshotError.EXTENSION_NOT_ANSWERING, f"The backup extension of {vm.name} did not answer")
    if extension is None:
        return CRASH, ["The VM has no backup extension: the recovery point is crash-consistent."]
    if extension == "freeze_fails":
        return FILE_SYSTEM, ["The backup extension could not freeze the applications: "
                             "the recovery point is file-system consistent."]
    return APPLICATION, []


def _disk_of(vm, key):
    disk = next((disk for disk in vm.disks if disk.key == key), None)
    if disk is None:
        raise SnapshotError(SnapshotError.VM_NOT_FOUND, f"{vm.name} has no disk {shown(key)}")
    return disk


@contextlib.contextmanager
def _open_checked(folder_fd, disk):
    """The disk's image, every file of it open; SnapshotError if it is no longer safe to read."""
    try:
        image = open_image(folder_fd, disk.key, disk.format)
    except (ImageRefused, OSError) as error:
        raise SnapshotError(SnapshotError.DISK_REFUSED, str(error)) from None
    with image:
        yield image


def _capture_to(image, target):
    """Capture into the new file `target` (in a job's own work folder), created exclusively."""
    with descriptor(os.open(target, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)) as fd:
        capture(image, fd)


def _install_disk(folder_fd, raw_path, disk_format, file_name):
    """Put a restored raw image in place as `file_name`, in the disk's own format, atomically: into a
    new temporary file created exclusively (never through a path someone planted), then renamed."""
    fd, temporary = create_exclusive(folder_fd, f".{file_name}.restoring-")
    try:
        with descriptor(fd), descriptor(os.open(raw_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)) as raw:
            install(raw, os.fstat(raw).st_size, disk_format, fd)
            os.fchmod(fd, 0o644)
            os.fsync(fd)
        os.replace(temporary, file_name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
        os.fsync(folder_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=folder_fd)
        raise


