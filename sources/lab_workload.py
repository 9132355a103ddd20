"""A lab VM's workload: keeps writing to the VM's disks, like a running guest.

Each write holds the VM's I/O lock shared (a snapshot waits for it and pauses the rest). Raw disks
are written directly and each write is logged in the change log, which is how the lab knows which
of their blocks changed between backups; qcow2 disks are written through qemu (qemu-io), which
marks the blocks in the disk's dirty bitmaps, as a running qemu does.
"""

import fcntl
import os
import random
import subprocess
import time
from pathlib import Path

from sources.lab import CHANGE_LOG, IO_LOCK, MANIFEST, start_change_log, virtual_size


class LabWorkload:
    def __init__(self, vm_folder, seed=None):
        self.folder = Path(vm_folder)
        self.rng = random.Random(seed)
        import json

        manifest = json.loads((self.folder / MANIFEST).read_text(encoding="utf-8"))
        self.disks = [(self.folder / disk["file"], disk["format"]) for disk in manifest["disks"]]

    def write(self, count=1, block=4096):
        """Write `count` random blocks at random block-aligned places. Returns [(file, offset, length)]."""
        done = []
        with open(self.folder / IO_LOCK, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_SH)
            try:
                with open(self.folder / CHANGE_LOG, "a", encoding="ascii") as log:
                    start_change_log(log)
                    for _ in range(count):
                        disk, disk_format = self.rng.choice(self.disks)
                        offset = self.rng.randrange(0, virtual_size(disk, disk_format) // block) * block
                        if disk_format == "raw":
                            with open(disk, "r+b") as image:
                                os.pwrite(image.fileno(), self.rng.randbytes(block), offset)
                                os.fsync(image.fileno())
                            log.write(f"{disk.name} {offset} {block}\n")
                        else:
                            subprocess.run(["qemu-io", "-f", "qcow2", "-c",
                                            f"write -P {self.rng.randrange(1, 256)} {offset} {block}", str(disk)],
                                           check=True, capture_output=True)
                        done.append((disk.name, offset, block))
                    log.flush()
                    os.fsync(log.fileno())
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return done

    def run(self, seconds, writes_per_second=20):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.write()
            time.sleep(1 / writes_per_second)
