"""A lab VM's workload: keeps writing to the VM's disks, like a running guest.

Each write holds the VM's I/O lock shared (a snapshot waits for it and pauses the rest). Raw disks
are written directly and each write is logged in the change log, which is how the lab knows which
of their blocks changed between backups; qcow2 disks are written through qemu (qemu-io), which
marks the blocks in the disk's dirty bitmaps, as a running qemu does. Like the lab itself, it opens
the VM's folder once and every file in it through that folder, never through a symlink.
"""

import collections
import fcntl
import json
import os
import random
import subprocess
import time
from pathlib import Path

from sources.files import descriptor, open_file, open_folder
from sources.images import open_image
from sources.lab_folder import IO_LOCK, MANIFEST, open_change_log
from sources.lab_in_place import save_before_writing


class LabWorkload:
    def __init__(self, vm_folder, seed=None):
        self.folder = Path(vm_folder)
        self.rng = random.Random(seed)
        with descriptor(open_folder(str(self.folder))) as folder_fd:
            with os.fdopen(open_file(MANIFEST, folder_fd), "rb") as handle:
                manifest = json.loads(handle.read())
            self.disks = [(disk["file"], disk["format"]) for disk in manifest["disks"]]
            self.sizes = {}
            for file_name, disk_format in self.disks:
                with open_image(folder_fd, file_name, disk_format) as image:
                    self.sizes[file_name] = image.virtual_size

    def write(self, count=1, block=4096):
        """Write `count` random blocks at random block-aligned places. Returns [(file, offset, length)]."""
        planned = collections.defaultdict(list)  # disk -> [(offset, data or pattern byte)], in order
        done = []
        for _ in range(count):
            disk, disk_format = self.rng.choice(self.disks)
            offset = self.rng.randrange(0, self.sizes[disk] // block) * block
            planned[disk, disk_format].append(
                (offset, self.rng.randbytes(block) if disk_format == "raw" else self.rng.randrange(1, 256)))
            done.append((disk, offset, block))
        with descriptor(open_folder(str(self.folder))) as folder_fd, \
                descriptor(open_file(IO_LOCK, folder_fd, os.O_RDWR | os.O_CREAT)) as lock:
            fcntl.flock(lock, fcntl.LOCK_SH)
            try:
                # The log first: a raw block may be logged and not written (a crash between), never
                # written and not logged.
                with open_change_log(folder_fd) as log:
                    log.writelines(f"{disk} {offset} {block}\n".encode("ascii")
                                   for (disk, disk_format), writes in planned.items() if disk_format == "raw"
                                   for offset, _data in writes)
                    log.flush()
                    os.fsync(log.fileno())
                for (disk, disk_format), writes in planned.items():
                    if disk_format == "raw":
                        with descriptor(open_file(disk, folder_fd, os.O_RDWR)) as image:
                            save_before_writing(folder_fd, disk, image, [(offset, len(data)) for offset, data in writes])
                            for offset, data in writes:
                                os.pwrite(image, data, offset)
                            os.fsync(image)
                    else:  # through qemu, which marks the blocks in the disk's dirty bitmaps
                        commands = [arg for offset, pattern in writes
                                    for arg in ("-c", f"write -P {pattern} {offset} {block}")]
                        with open_image(folder_fd, disk, disk_format) as image:  # its chain, as the lab checks it
                            subprocess.run(["qemu-io", *commands, image.spec()],
                                           check=True, capture_output=True, pass_fds=tuple(image.fds))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return done

    def run(self, seconds, writes_per_second=20):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.write()
            time.sleep(1 / writes_per_second)
