"""A lab VM's workload: keeps writing to the VM's raw disks, like a running guest.

Each write holds the VM's I/O lock shared (a snapshot waits for it and pauses the rest) and is
logged in the change log, which is how the lab knows which blocks changed between backups
(the role a qemu dirty bitmap plays on a real host).
"""

import fcntl
import os
import random
import time
from pathlib import Path

from sources.lab import CHANGE_LOG, IO_LOCK, MANIFEST, start_change_log


class LabWorkload:
    def __init__(self, vm_folder, seed=None):
        self.folder = Path(vm_folder)
        self.rng = random.Random(seed)
        import json

        manifest = json.loads((self.folder / MANIFEST).read_text(encoding="utf-8"))
        # qcow2 disks need qemu to write into; the workload writes the raw ones.
        self.disks = [self.folder / disk["file"] for disk in manifest["disks"] if disk["format"] == "raw"]

    def write(self, count=1, block=4096):
        """Write `count` random blocks at random block-aligned places. Returns [(file, offset, length)]."""
        done = []
        with open(self.folder / IO_LOCK, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_SH)
            try:
                with open(self.folder / CHANGE_LOG, "a", encoding="ascii") as log:
                    start_change_log(log)
                    for _ in range(count):
                        disk = self.rng.choice(self.disks)
                        size = disk.stat().st_size
                        offset = self.rng.randrange(0, size // block) * block
                        with open(disk, "r+b") as image:
                            os.pwrite(image.fileno(), self.rng.randbytes(block), offset)
                            os.fsync(image.fileno())
                        log.write(f"{disk.name} {offset} {block}\n")
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
