"""The one interface every VM source implements, and the values it returns."""

import unicodedata
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from repository.chunking import file_chunks

POWER_STATES = ("running", "stopped")
DISK_FORMATS = ("raw", "qcow2")
MAX_NAME_LENGTH = 64


class SourceUnavailable(Exception):
    """The source cannot be reached at all (a missing folder, a host that does not answer)."""


class BadEntry(ValueError):
    """One VM entry of a source is malformed; the others can still be used."""


@dataclass(frozen=True)
class Disk:
    key: str  # stable and unique within its VM (a lab disk's file, a libvirt target device): the disk's identity
    name: str  # for people; two disks of a VM may share it
    path: str
    format: str
    virtual_size: int


@dataclass(frozen=True)
class VM:
    id: str
    name: str
    cloud_service: str
    region: str
    power_state: str
    has_backup_extension: bool
    disks: tuple[Disk, ...]
    can_pause: bool = True  # its writes can be paused (to replace its disks while it runs)

    @property
    def size(self):
        return sum(disk.virtual_size for disk in self.disks)


class SnapshotError(Exception):
    """No snapshot could be taken. `code` says why, in the words of the job error codes."""

    VM_NOT_FOUND = "vm_not_found"
    VM_NOT_RUNNING = "vm_not_running"
    VM_RUNNING = "vm_running"  # its disks cannot be replaced while it runs
    VM_NAME_TAKEN = "vm_name_taken"
    EXTENSION_NOT_ANSWERING = "extension_not_answering"
    SNAPSHOT_TIMEOUT = "snapshot_timeout"
    DISK_REFUSED = "disk_refused"  # a disk that cannot be read safely (a backing file elsewhere, a symlink)

    def __init__(self, code, detail):
        super().__init__(detail)
        self.code = code


# How consistent a snapshot is, best first.
APPLICATION, FILE_SYSTEM, CRASH = "application", "file_system", "crash"


@dataclass
class SnapshotDisk:
    key: str
    name: str
    format: str
    size: int
    path: str  # a raw, sparse copy of the disk as it was at the snapshot, or the disk itself (see reader)
    changed: list | None = None  # (offset, length) written since the previous snapshot; None if unknown
    reader: object = None  # reads the disk in place as it was at the snapshot (a chunks() like the one below)

    def chunks(self, chunk_size, only=None):
        """(index, bytes or None for a hole) of each chunk of the disk as it was at the snapshot; with
        `only`, just those chunk indexes (see repository.chunking.file_chunks)."""
        if self.reader is not None:
            return self.reader.chunks(chunk_size, only)
        return file_chunks(self.path, chunk_size, only)


@dataclass
class Snapshot:
    vm: VM
    consistency: str
    disks: list
    folder: str
    warnings: list = field(default_factory=list)
    change_position: dict = field(default_factory=dict)  # give it back as `since` next time
    releases: list = field(default_factory=list)  # what ends the snapshot at the source, in order

    def release(self):
        """The backup has read what it needed: the source stops keeping the snapshot, and the copies go."""
        import shutil

        try:
            for release in self.releases:
                release()
        finally:
            self.releases = []
            shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class Inventory:
    """What a source answered: the good VMs, and one line for each entry it had to skip."""

    vms: list[VM] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


# Control characters (C0, C1: U+0085 too), format characters (bidi overrides such as U+202E, zero
# widths), line and paragraph separators (U+2028, U+2029), surrogates, private use, unassigned.
_INVISIBLE = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}


def has_control_characters(value):
    return any(unicodedata.category(character) in _INVISIBLE for character in value)


def clean_label(value, what):
    """Validate a name that comes from a VM source (untrusted): printable text, 1-64 characters.

    Markup characters are allowed and shown escaped; control, bidi and separator characters are
    refused, since they could forge lines in logs and tables or show a name as another.
    """
    if not isinstance(value, str):
        raise BadEntry(f"{what} is missing or not text")
    value = unicodedata.normalize("NFC", value).strip()
    if not value:
        raise BadEntry(f"{what} is empty")
    if len(value) > MAX_NAME_LENGTH:
        raise BadEntry(f"{what} is longer than {MAX_NAME_LENGTH} characters")
    if has_control_characters(value):
        raise BadEntry(f"{what} contains control characters")
    return value


def shown(value):
    """An untrusted name as it may appear in a message: itself if printable, else escaped."""
    if isinstance(value, str) and len(value) <= MAX_NAME_LENGTH and not has_control_characters(value):
        return value
    return ascii(str(value)[:MAX_NAME_LENGTH])


class VMSource(ABC):
    kind = ""

    @abstractmethod
    def inventory(self) -> Inventory:
        """Every VM the source holds. Raises SourceUnavailable when it cannot be read at all."""

    def list_vms(self, region) -> Inventory:
        everything = self.inventory()
        return Inventory(
            vms=[vm for vm in everything.vms if vm.region == region],
            problems=everything.problems,
        )

    def get_vm(self, vm_id):
        """The VM with this id, or None when the source no longer has it."""
        return next((vm for vm in self.inventory().vms if vm.id == vm_id), None)

    @abstractmethod
    def snapshot(self, vm_id, folder, since=None) -> Snapshot:
        """Take a consistent snapshot of the VM's disks into `folder`: the backup extension flushes
        and freezes, the disks are captured, the VM is thawed. `since` is the change position of
        the previous snapshot, to learn which blocks changed. Raises SnapshotError."""

    @abstractmethod
    def create_vm(self, *, name, cloud_service, region, like, disks) -> str:
        """Create a new VM like `like` (a VM) with these disks: [(name, format, raw image path)]. Returns its
        id. SnapshotError VM_NAME_TAKEN if the cloud service already has a VM of that name."""

    @abstractmethod
    def export_disk(self, vm_id, disk_key, target):
        """Write the disk as it is now, as a raw image, to the new file `target` (to check a restore)."""

    @abstractmethod
    def replace_disks(self, vm_id, disks, export_to=None):
        """Replace the VM's disks with these raw images: {disk key: path}, its writes paused meanwhile
        (SnapshotError VM_RUNNING if they cannot be). With `export_to`, also read each installed disk
        back as a raw image into that folder, before the VM writes again, and return {disk key: path}."""
