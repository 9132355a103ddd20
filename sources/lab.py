"""The lab source: VMs are folders of real disk-image files, described by a small manifest.

    <root>/<vm id>/vm.json     {"id", "name", "cloud_service", "region", "power_state",
                                "backup_extension", "disks": [{"name", "file", "format"}]}
    <root>/<vm id>/<disk file> a raw or qcow2 image

It is the embedded default, for demos and tests. Manifests are untrusted input: a malformed
one is reported as a problem and skipped, never trusted to point outside its folder.
"""

import json
import random
import re
import shutil
import struct
import subprocess
import uuid
from pathlib import Path

from sources.base import (
    DISK_FORMATS,
    POWER_STATES,
    VM,
    BadEntry,
    Disk,
    Inventory,
    SourceUnavailable,
    VMSource,
    clean_label,
)

MANIFEST = "vm.json"
QCOW2_MAGIC = b"QFI\xfb"
_SAFE_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MiB = 1024 * 1024


class LabSource(VMSource):
    kind = "lab"

    def __init__(self, location):
        self.root = Path(location)

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
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise BadEntry(f"unreadable manifest ({error.__class__.__name__})") from None
        if not isinstance(manifest, dict):
            raise BadEntry("manifest is not an object")
        power_state = manifest.get("power_state")
        if power_state not in POWER_STATES:
            raise BadEntry(f"power state must be one of {', '.join(POWER_STATES)}")
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


def virtual_size(path, disk_format):
    """The size the guest sees: the file size for raw, the header's size field for qcow2."""
    if disk_format == "raw":
        return path.stat().st_size
    with open(path, "rb") as image:
        header = image.read(32)
    if len(header) < 32 or header[:4] != QCOW2_MAGIC:
        raise BadEntry(f"disk {path.name} is not a qcow2 image")
    return struct.unpack(">Q", header[24:32])[0]


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
