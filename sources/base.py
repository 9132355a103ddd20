"""The one interface every VM source implements, and the values it returns."""

import re
import unicodedata
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

POWER_STATES = ("running", "stopped")
DISK_FORMATS = ("raw", "qcow2")
MAX_NAME_LENGTH = 64


class SourceUnavailable(Exception):
    """The source cannot be reached at all (a missing folder, a host that does not answer)."""


class BadEntry(ValueError):
    """One VM entry of a source is malformed; the others can still be used."""


@dataclass(frozen=True)
class Disk:
    name: str
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

    @property
    def size(self):
        return sum(disk.virtual_size for disk in self.disks)


@dataclass
class Inventory:
    """What a source answered: the good VMs, and one line for each entry it had to skip."""

    vms: list[VM] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_label(value, what):
    """Validate a name that comes from a VM source (untrusted): printable text, 1-64 characters.

    Markup characters are allowed and shown escaped; control characters are refused,
    since they could forge lines in logs and tables.
    """
    if not isinstance(value, str):
        raise BadEntry(f"{what} is missing or not text")
    value = unicodedata.normalize("NFC", value).strip()
    if not value:
        raise BadEntry(f"{what} is empty")
    if len(value) > MAX_NAME_LENGTH:
        raise BadEntry(f"{what} is longer than {MAX_NAME_LENGTH} characters")
    if _CONTROL.search(value):
        raise BadEntry(f"{what} contains control characters")
    return value


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
