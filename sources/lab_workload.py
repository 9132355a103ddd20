"""A lab VM's workload: keeps writing to the VM's disks, like a running guest.

Each write holds the VM's I/O lock shared (a snapshot waits for it and pauses the rest). Raw disks
are written directly and each write is logged in the change log, which is how the lab knows which
of their blocks changed between backups; qcow2 disks are written through qemu (qemu-io), which
marks the blocks in the disk's dirty bitmaps, as a running qemu does.
"""

import collections
import fcntl
import json
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
        manifest = json.loads((self.folder / MANIFEST).read_text(encoding="utf-8"))
        self.disks = [(self.folder / disk["file"], disk["format"]) for disk in manifest["disks"]]
        self.sizes = {path: virtual_size(path, disk_format) for path, disk_format in self.disks}

    def write(self, count=1, block=4096):
        """Write `count` random blocks at random block-aligned places. Returns [(file, offset, length)]."""
        planned = collections.defaultdict(list)  # disk -> [(offset, data or pattern byte)], in order
        done = []
        for _ in range(count):
            disk, disk_format = self.rng.choice(self.disks)
            offset = self.rng.randrange(0, self.sizes[disk] // block) * block
            planned[disk, disk_format].append(
                (offset, self.rng.randbytes(block) if disk_format == "raw" else self.rng.randrange(1, 256)))
            done.append((disk.name, offset, block))
        with open(self.folder / IO_LOCK, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_SH)
            try:
                # The log first: a raw block may be logged and not written (a crash between), never
                # written and not logged.
                with open(self.folder / CHANGE_LOG, "a", encoding="ascii") as log:
                    start_change_log(log)
                    log.writelines(f"{disk.name} {offset} {block}\n"
                                   for (disk, disk_format), writes in planned.items() if disk_format == "raw"
                                   for offset, _data in writes)
                    log.flush()
                    os.fsync(log.fileno())
                for (disk, disk_format), writes in planned.items():
                    if disk_format == "raw":
                        with open(disk, "r+b") as image:
                            for offset, data in writes:
                                os.pwrite(image.fileno(), data, offset)
                            os.fsync(image.fileno())
                    else:  # through qemu, which marks the blocks in the disk's dirty bitmaps
                        commands = [arg for offset, pattern in writes
                                    for arg in ("-c", f"write -P {pattern} {offset} {block}")]
                        subprocess.run(["qemu-io", "-f", "qcow2", *commands, str(disk)], check=True, capture_output=True)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return done

    def run(self, seconds, writes_per_second=20):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.write()
            time.sleep(1 / writes_per_second)
