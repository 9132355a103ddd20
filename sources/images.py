"""Disk images a source hands us, opened once and read through what was opened.

A qcow2 image names other files in its header: a backing file (whose data shows through where the
image has none) and an external data file. Left to itself, qemu follows those names wherever they
point (`-b /etc/shadow` makes the host's password file part of the disk). So every layer is opened
here, by a plain name in the VM's own folder, never through a symlink, with its format read from
the header (never guessed), and qemu is given exactly those open files (`/proc/self/fd/N`) and
formats, in a `json:` description of the whole chain. No Django in here.
"""

import json
import os
import re
import struct
import subprocess
from dataclasses import dataclass, field

from sources.files import UnsafeFile, copy_sparse, open_file, proc_path

QCOW2_MAGIC = b"QFI\xfb"
FORMATS = ("raw", "qcow2")
MAX_CHAIN = 16  # layers of one disk: more is a loop or an attack
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Header extensions (qemu's docs/interop/qcow2.txt).
EXT_END, EXT_BACKING_FORMAT, EXT_DATA_FILE = 0, 0xE2792ACA, 0x44415441
INCOMPATIBLE_CORRUPT, INCOMPATIBLE_DATA_FILE = 1 << 1, 1 << 2
KNOWN_INCOMPATIBLE = (1 << 5) - 1  # dirty, corrupt, external data file, compression type, extended L2


class ImageRefused(Exception):
    """The image cannot be read safely as it is (its message says why, for the Discover result)."""


@dataclass
class Qcow2Header:
    virtual_size: int
    backing_file: str | None = None
    backing_format: str | None = None
    data_file: str | None = None


def read_qcow2_header(fd, name):
    """The parts of a qcow2 header that say what the image is and which other files it needs."""
    head = os.pread(fd, 112, 0)
    if len(head) < 72 or head[:4] != QCOW2_MAGIC:
        raise ImageRefused(f"disk {name} is not a qcow2 image")
    version, backing_offset, backing_size, cluster_bits, size, crypt = struct.unpack(">IQIIQI", head[4:36])
    if version not in (2, 3) or not 9 <= cluster_bits <= 21:
        raise ImageRefused(f"disk {name} has a qcow2 header this version does not read")
    if crypt:
        raise ImageRefused(f"disk {name} is encrypted by qemu, which Vaultline cannot read")
    header = Qcow2Header(virtual_size=size)
    extensions_at, incompatible = 72, 0
    if version == 3:
        if len(head) < 104:
            raise ImageRefused(f"disk {name} has a truncated qcow2 header")
        incompatible = struct.unpack(">Q", head[72:80])[0]
        extensions_at = struct.unpack(">I", head[100:104])[0]
    if incompatible & ~KNOWN_INCOMPATIBLE or incompatible & INCOMPATIBLE_CORRUPT:
        raise ImageRefused(f"disk {name} is marked corrupt or uses qcow2 features this version does not read")
    cluster = os.pread(fd, 1 << cluster_bits, 0)
    at = extensions_at
    while at + 8 <= len(cluster):
        kind, length = struct.unpack(">II", cluster[at:at + 8])
        if kind == EXT_END:
            break
        data = cluster[at + 8:at + 8 + length]
        if kind == EXT_BACKING_FORMAT:
            header.backing_format = data.decode("ascii", "replace")
        elif kind == EXT_DATA_FILE:
            header.data_file = data.decode("utf-8", "replace")
        at += 8 + (length + 7) // 8 * 8
    if incompatible & INCOMPATIBLE_DATA_FILE and header.data_file is None:
        raise ImageRefused(f"disk {name} keeps its data in an external file it does not name")
    if not incompatible & INCOMPATIBLE_DATA_FILE:
        header.data_file = None
    if backing_offset:
        if not 0 < backing_size <= 1023:
            raise ImageRefused(f"disk {name} names a backing file this version does not read")
        header.backing_file = os.pread(fd, backing_size, backing_offset).decode("utf-8", "replace")
    return header


@dataclass
class Layer:
    fd: int
    format: str
    data_fd: int | None = None  # a qcow2 layer's external data file


@dataclass
class Image:
    """One disk, every file of it open: `layers[0]` is the disk itself, then its backing chain."""

    name: str
    virtual_size: int
    layers: list = field(default_factory=list)

    @property
    def fds(self):
        return [fd for layer in self.layers for fd in (layer.fd, layer.data_fd) if fd is not None]

    @property
    def fd(self):
        return self.layers[0].fd

    @property
    def format(self):
        return self.layers[0].format

    def spec(self):
        """The whole chain for qemu: each layer's format, and the open file it is read from."""
        node = None
        for layer in reversed(self.layers):
            current = {"driver": layer.format, "file": {"driver": "file", "filename": proc_path(layer.fd)}}
            if layer.format == "qcow2":
                current["backing"] = node  # None: no backing file, whatever the header says
                if layer.data_fd is not None:
                    current["data-file"] = {"driver": "file", "filename": proc_path(layer.data_fd)}
            node = current
        return "json:" + json.dumps(node)

    def close(self):
        for fd in self.fds:
            os.close(fd)
        self.layers = []

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def open_image(folder_fd, file_name, disk_format):
    """Open a disk and every file its chain needs, all plain names in the VM's folder. ImageRefused
    if any is a symlink, outside the folder, of an unrecorded format, or the chain loops."""
    image = Image(name=file_name, virtual_size=0)
    seen = set()
    name, layer_format = file_name, disk_format
    try:
        while True:
            if len(image.layers) == MAX_CHAIN:
                raise ImageRefused(f"disk {file_name} has a backing chain longer than {MAX_CHAIN} files")
            layer = Layer(fd=_open_layer(folder_fd, name, file_name), format=layer_format)
            image.layers.append(layer)
            info = os.fstat(layer.fd)
            if (info.st_dev, info.st_ino) in seen:
                raise ImageRefused(f"disk {file_name} has a backing chain that loops")
            seen.add((info.st_dev, info.st_ino))
            if layer_format == "raw":
                if len(image.layers) == 1:
                    image.virtual_size = info.st_size
                return image
            header = read_qcow2_header(layer.fd, name)
            if len(image.layers) == 1:
                image.virtual_size = header.virtual_size
            if header.data_file is not None:
                if not PLAIN_NAME.fullmatch(header.data_file):
                    raise ImageRefused(f"disk {file_name} keeps its data in a file outside the VM's folder")
                layer.data_fd = _open_layer(folder_fd, header.data_file, file_name)
            if header.backing_file is None:
                return image
            if not PLAIN_NAME.fullmatch(header.backing_file):
                raise ImageRefused(f"disk {file_name} has a backing file outside the VM's folder")
            if header.backing_format not in FORMATS:
                raise ImageRefused(f"disk {file_name} has a backing file whose format it does not record")
            name, layer_format = header.backing_file, header.backing_format
    except BaseException:
        image.close()
        raise


def _open_layer(folder_fd, name, disk_name):
    """Read-only: qemu reopens the file through /proc when it writes (a dirty bitmap), checked then."""
    what = f"disk {disk_name}" if name == disk_name else f"{name}, which disk {disk_name} needs,"
    try:
        # One link only: a hard link in the folder to a file elsewhere (/etc/shadow, where the
        # system lets users link files they do not own) is that file.
        return open_file(name, folder_fd, max_links=1)
    except UnsafeFile:
        raise ImageRefused(f"{what} is not a plain file of the VM's folder (a symbolic or hard link?)") from None
    except FileNotFoundError:
        raise ImageRefused(f"{what} is missing") from None


def capture(image, target_fd):
    """A raw, sparse copy of the disk as the guest sees it, into the open (new, empty) file `target_fd`."""
    if image.format == "raw":
        copy_sparse(image.fd, target_fd, image.virtual_size)
        return
    os.ftruncate(target_fd, image.virtual_size)
    qemu_img("convert", "-q", "-n", "--target-is-zero", "-O", "raw", "-S", "64k",
             image.spec(), proc_path(target_fd), fds=[*image.fds, target_fd])


def install(raw_fd, size, disk_format, target_fd):
    """Write a raw image (open at `raw_fd`) into the open, new file `target_fd` in the disk's format."""
    if disk_format == "raw":
        copy_sparse(raw_fd, target_fd, size)
        return
    qemu_img("create", "-q", "-f", "qcow2", proc_path(target_fd), str(size), fds=[target_fd])
    qemu_img("convert", "-q", "-n", "--target-is-zero", "-f", "raw", "-O", "qcow2",
             proc_path(raw_fd), proc_path(target_fd), fds=[raw_fd, target_fd])


def qemu_img(*arguments, fds=(), timeout=None):
    """Run qemu-img on open files only (`fds` are passed to it under the same numbers)."""
    return subprocess.run(["qemu-img", *arguments], pass_fds=tuple(fds), capture_output=True, check=True,
                          text=True, timeout=timeout).stdout
