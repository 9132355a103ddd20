"""Fixed-size aligned chunks or content-defined chunks? Measure how much of day 2 each must store anew.

    .venv/bin/python bench/chunking.py [--size-mib 512]

Prints, for each chunker, the chunk count of day 1 and the bytes of day 2 that are in no day-1 chunk
(the repository growth before compression). Disk images change in place, in aligned blocks, so
fixed aligned chunks lose nothing to shifting; content-defined chunks pay for their larger average
size. The repository uses the winner (repository.repo.DEFAULT_CHUNK_SIZE).
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import blake3
from pyfastcdc.cy import FastCDC

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.images import MiB, make_day1, make_day2


def fixed_chunks(path, size):
    with open(path, "rb") as image:
        while block := image.read(size):
            yield block


def cdc_chunks(path, average):
    for chunk in FastCDC(average).cut_file(str(path)):
        yield bytes(chunk.data)


def measure(name, chunker, day1, day2):
    started = time.perf_counter()
    seen = {blake3.blake3(chunk).digest() for chunk in chunker(day1)}
    growth = 0
    for chunk in chunker(day2):
        digest = blake3.blake3(chunk).digest()
        if digest not in seen:
            growth += len(chunk)
            seen.add(digest)
    print(f"{name:<24} {len(seen):>9} {growth / MiB:>12.1f} {time.perf_counter() - started:>9.1f}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=512)
    size = parser.parse_args().size_mib * MiB
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as folder:
        day1, day2 = Path(folder) / "day1.img", Path(folder) / "day2.img"
        make_day1(day1, size)
        make_day2(day1, day2)
        print(f"day 1: {size / MiB:.0f} MiB; day 2: 2% rewritten in scattered 4-64 KiB writes")
        print(f"{'chunker':<24} {'chunks':>9} {'day-2 MiB':>12} {'seconds':>9}")
        for kib in (16, 64, 256, 1024):
            measure(f"fixed {kib} KiB", lambda p, s=kib * 1024: fixed_chunks(p, s), day1, day2)
        for kib in (64, 1024):
            measure(f"FastCDC avg {kib} KiB", lambda p, a=kib * 1024: cdc_chunks(p, a), day1, day2)


if __name__ == "__main__":
    main()
