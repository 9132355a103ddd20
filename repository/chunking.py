"""Cutting a disk image into fixed-size aligned chunks, skipping what the file system says is a hole.

Everything here walks the file lazily, so memory does not grow with the disk's size.
"""

import errno
import os
import time


def ceil_div(numerator, denominator):
    return -(-numerator // denominator)


def data_extents(fd, size):
    """(start, end) of the regions of a file that hold data, in order; holes (reading as zeros) are left out."""
    offset = 0
    while offset < size:
        try:
            start = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError as error:
            if error.errno != errno.ENXIO:  # ENXIO: only a hole remains; anything else is an error
                raise
            return
        end = os.lseek(fd, start, os.SEEK_HOLE)
        yield start, min(end, size)
        offset = end


def changed_chunks(extents, chunk_size):
    """The chunk indexes that (offset, length) writes touched, in increasing order, each once."""
    last = -1
    for start, end in sorted((offset // chunk_size, (offset + length - 1) // chunk_size) for offset, length in extents
                             if length > 0):
        for index in range(max(start, last + 1), end + 1):
            yield index
        last = max(last, end)


def file_chunks(path, chunk_size, only=None):
    """(index, bytes or None) for every chunk of the file, in order, None where the chunk lies wholly
    in a hole.

    With `only` (chunk indexes in increasing order, e.g. from a changed-block log), just those are
    read and yielded; the rest are taken from the previous recovery point.
    """
    with open(path, "rb") as image:
        fd = image.fileno()
        yield from fd_chunks(fd, os.fstat(fd).st_size, chunk_size, only)


def fd_chunks(fd, size, chunk_size, only=None):
    """file_chunks of the first `size` bytes of an open file."""
    count = ceil_div(size, chunk_size)

    def read(index):
        return os.pread(fd, min(chunk_size, size - index * chunk_size), index * chunk_size)

    if only is not None:
        for index in only:
            if index < count:
                yield index, read(index)  # a hole reads as zeros, which are stored as such
        return
    position = 0  # the next chunk to yield
    for start, end in data_extents(fd, size):
        first, last = start // chunk_size, (end - 1) // chunk_size
        for index in range(position, first):  # wholly inside the hole before this extent
            yield index, None
        for index in range(max(position, first), last + 1):
            yield index, read(index)
        position = max(position, last + 1)
    for index in range(position, count):
        yield index, None


def throttled(chunks, bytes_per_second, clock=time.monotonic, sleep=time.sleep):
    """The chunks, read no faster than `bytes_per_second` (holes cost nothing): a backup's read limit."""
    started, read = clock(), 0
    for index, data in chunks:
        if data is not None:
            read += len(data)
            ahead = read / bytes_per_second - (clock() - started)
            if ahead > 0:
                sleep(ahead)
        yield index, data
