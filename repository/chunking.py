"""Cutting a disk image into fixed-size aligned chunks, skipping what the file system says is a hole."""

import os


def data_extents(fd, size):
    """(start, end) of the regions of a file that hold data; holes (reading as zeros) are left out."""
    extents, offset = [], 0
    while offset < size:
        try:
            start = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError:  # ENXIO: only a hole remains
            break
        end = os.lseek(fd, start, os.SEEK_HOLE)
        extents.append((start, min(end, size)))
        offset = end
    return extents


def file_chunks(path, chunk_size, only=None):
    """(index, bytes or None) for every chunk of the file, None where the chunk lies wholly in a hole.

    With `only` (a set of chunk indexes, e.g. from a changed-block log), just those are read and
    yielded; the rest are taken from the previous recovery point.
    """
    with open(path, "rb") as image:
        fd = image.fileno()
        size = os.fstat(fd).st_size
        count = -(-size // chunk_size)
        has_data = bytearray(count)
        for start, end in data_extents(fd, size):
            for index in range(start // chunk_size, (end - 1) // chunk_size + 1):
                has_data[index] = 1
        for index in sorted(only) if only is not None else range(count):
            if index >= count:
                continue
            if has_data[index]:
                yield index, os.pread(fd, min(chunk_size, size - index * chunk_size), index * chunk_size)
            else:
                yield index, None
