"""A restored disk image written as it goes: O_DIRECT where the file system allows."""

import contextlib
import errno
import mmap
import os
import threading
import uuid


class ImageFile:
    """A new file of a given size that blocks are written into at their offsets, with O_DIRECT where
    the file system allows: a multi-GiB restore then goes to the disk as it is written, instead of
    filling the page cache (and leaving everything to one final fsync). Blocks not aligned to the
    file system's block (a disk's last chunk) go through an ordinary descriptor of the same file."""

    def __init__(self, beside, size):
        """A new private file next to `beside` (created exclusively: never written through a path
        that was already there); `path` names it."""
        folder, name = os.path.split(os.path.abspath(beside))
        while True:
            self.path = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:16]}.partial")
            try:
                self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                  0o600)
                break
            except FileExistsError:
                continue
        os.ftruncate(self.fd, size)
        self.align = max(mmap.PAGESIZE, os.fstat(self.fd).st_blksize)
        self.direct = None
        if hasattr(os, "O_DIRECT"):
            with contextlib.suppress(OSError):  # EINVAL: this file system does not do direct I/O
                # The same open file again (not its path, which could be swapped), for direct writes.
                self.direct = os.open(f"/proc/self/fd/{self.fd}", os.O_WRONLY | os.O_DIRECT | os.O_CLOEXEC)
        self.direct_works = self.direct is not None
        self._buffers = threading.local()  # O_DIRECT needs aligned memory: an mmap per thread

    def write(self, offset, blocks):
        """Write `blocks` one after another from `offset`; returns the bytes written."""
        length = sum(map(len, blocks))
        if self.direct_works and offset % self.align == 0 and length % self.align == 0:
            buffer = getattr(self._buffers, "map", None)
            if buffer is None or len(buffer) < length:
                buffer = self._buffers.map = mmap.mmap(-1, length)
            at = 0
            for block in blocks:
                buffer[at:at + len(block)] = block
                at += len(block)
            try:
                return write_all(self.direct, memoryview(buffer)[:length], offset)
            except OSError as error:
                if error.errno != errno.EINVAL:
                    raise
                self.direct_works = False  # accepted at open, refused at write: go through the cache
        return write_all(self.fd, b"".join(blocks), offset)

    def sync(self):
        os.fsync(self.fd)  # on Linux this covers what the direct descriptor wrote too

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self.direct is not None:
            os.close(self.direct)
        os.close(self.fd)


def write_all(fd, data, offset):
    """pwrite until all of `data` is written (a write may take only part of it)."""
    view, done = memoryview(data), 0
    while done < len(view):
        written = os.pwrite(fd, view[done:], offset + done)
        if written == 0:
            raise OSError(errno.EIO, "the disk took nothing more")
        done += written
    return done
