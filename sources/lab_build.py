"""Building lab VMs: folders of real disk images holding a mix of text, random bytes and holes,
for the demo lab (`makelab`), tests and benchmarks. No Django in here."""

import json
import random
import shutil
import subprocess
import uuid
from pathlib import Path

from sources.base import SourceUnavailable
from sources.lab_folder import MANIFEST

MiB = 1024 * 1024


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
