"""Benchmark disk images: a day-1 image of zeros, compressible text and random bytes, and a day-2
copy with about 2% of it rewritten in scattered places (like a VM's day of writes)."""

import os
import random
import shutil

from repository.chunking import changed_chunks

MiB = 1024 * 1024


def make_day1(path, size, seed=2026):
    rng = random.Random(seed)
    with open(path, "wb") as image:
        image.truncate(size)
        for offset in range(0, size, MiB):
            kind = rng.choices(("zero", "text", "random"), weights=(3, 4, 3))[0]
            if kind == "zero":
                continue
            image.seek(offset)
            if kind == "random":
                image.write(os.urandom(MiB))
            else:
                line = b"%012x INFO service=web request=%06d status=200 bytes=%05d\n" % (
                    offset, rng.randrange(10**6), rng.randrange(10**5))
                image.write((line * (MiB // len(line) + 1))[:MiB])


def make_day2(day1, path, share=0.02, seed=7, chunk_size=64 * 1024):
    """Copy day 1 and rewrite `share` of it in scattered 4-64 KiB writes. Returns the chunk indexes
    touched, in order (the changed-block log a lab workload or a dirty bitmap provides)."""
    shutil.copyfile(day1, path)  # keeps no holes; fine for reading, the data is what matters
    size = os.path.getsize(path)
    rng = random.Random(seed)
    writes, written = [], 0
    with open(path, "r+b") as image:
        while written < size * share:
            length = rng.choice((4, 8, 16, 32, 64)) * 1024
            offset = rng.randrange(0, (size - length) // 4096) * 4096
            image.seek(offset)
            image.write(os.urandom(length))
            writes.append((offset, length))
            written += length
    return list(changed_chunks(writes, chunk_size))
