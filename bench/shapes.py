"""Full backups of disk images of several shapes: Vaultline against restic, and against the compute limit.

    .venv/bin/python bench/shapes.py [--size-mib 2048]     (restic from Debian; make bench installs it)

Shapes:
  mix         make bench's day-1 image: zeros, compressible text, random bytes, in 1 MiB regions
  copied      "files" of 16 KiB to 4 MiB (text or random) laid out on 4 KiB boundaries, then a third
              of them copied whole to other 4 KiB-aligned places (what copying files in a guest does)
  compressed  mostly already-compressed data (random bytes, and zlib output), a little text and zeros

For each: the full backup's seconds and MB/s of disk (Vaultline and restic, each in its own process,
caches fresh), the bytes each stored, and the compute limit: what hashing, compressing and
encrypting the image's non-zero data costs on one thread, measured here, spread over the machine's
cores (reading and writing left out: a limit no backup can pass). Vaultline's MB/s is given as a
share of that limit. A zero chunk costs nothing: an image with holes can be backed up faster than the
cores could seal its size.
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.backup import PASSWORD, folder_bytes  # noqa: E402
from bench.images import MiB, make_day1  # noqa: E402
from bench.process import run  # noqa: E402

BLOCK = 4096


def text(rng, length):
    line = b"%012x INFO service=api request=%06d status=200 bytes=%05d\n" % (
        rng.randrange(1 << 40), rng.randrange(10**6), rng.randrange(10**5))
    return (line * (length // len(line) + 1))[:length]


def make_copied(path, size, seed=11):
    rng = random.Random(seed)
    files, at = [], 0
    with open(path, "w+b") as image:
        image.truncate(size)
        while at < size * 2 // 3:
            length = min(rng.choice((4, 16, 64, 256, 1024)) * BLOCK, size * 2 // 3 - at)
            data = os.urandom(length) if rng.random() < 0.4 else text(rng, length)
            image.seek(at)
            image.write(data)
            files.append((at, length))
            at += length + rng.randrange(0, 8) * BLOCK
        free = size - at  # the last third: copies of a third of the files, at 4 KiB boundaries
        for start, length in rng.sample(files, len(files) // 3):
            if length > free:
                continue
            data = os.pread(image.fileno(), length, start)
            target = size - free + rng.randrange(0, 4) * BLOCK
            if target + length > size:
                continue
            os.pwrite(image.fileno(), data, target)
            free = size - (target + length)


def make_compressed(path, size, seed=13):
    """Already-compressed data looks random to anyone: os.urandom stands for most of it (compressing real
    logs for gigabytes would take minutes), beside real zlib output, text and zeros."""
    rng = random.Random(seed)
    lines = b"".join(b"%d %x GET /item/%d %d\n" % (n, rng.randrange(1 << 32), rng.randrange(10**7), rng.randrange(600))
                     for n in range(70000))
    gzipped = zlib.compress(lines, 6)[:MiB]
    with open(path, "wb") as image:
        image.truncate(size)
        for at in range(0, size, MiB):
            kind = rng.choices(("random", "zlib", "text", "zero"), weights=(14, 2, 2, 2))[0]
            if kind == "zero":
                continue
            image.seek(at)
            if kind == "random":
                image.write(os.urandom(MiB))
            elif kind == "zlib":  # one real compressed file's bytes, each region made its own by a prefix
                image.write((os.urandom(BLOCK) + gzipped)[:MiB])
            else:
                image.write(text(rng, MiB))


SHAPES = {"mix": make_day1, "copied": make_copied, "compressed": make_compressed}


def compute_limit(image):
    """MB/s of disk the machine's cores could hash, compress and seal: that work timed on one thread over
    the image's non-zero chunks (reading them left out), spread over the cores."""
    from repository.chunking import file_chunks
    from repository.crypto import Keys
    from repository.packs import all_zero
    from repository.repo import DEFAULT_CHUNK_SIZE

    keys = Keys(os.urandom(32))
    spent = 0.0
    for _index, data in file_chunks(image, DEFAULT_CHUNK_SIZE):
        if data is None or all_zero(data):
            continue  # a zero chunk costs nothing to store
        started = time.perf_counter()
        keys.chunk_id(data)
        keys.seal(data, b"chunk")
        spent += time.perf_counter() - started
    return os.path.getsize(image) / (spent / (os.cpu_count() or 1)) / 1e6


def vaultline_full(work, image):
    repo, key = work / "vaultline", work / "vaultline.key"
    step = [sys.executable, str(ROOT / "bench" / "backup.py"), "--cache", str(work / "vaultline-cache"), "--step"]
    run(step + ["init", "--repo", repo, "--key", key])
    seconds, _rss, _out = run(step + ["backup", "--repo", repo, "--key", key, "--image", image])
    return seconds, folder_bytes(repo)


def restic_full(work, image):
    env = {**os.environ, "RESTIC_PASSWORD": PASSWORD, "RESTIC_REPOSITORY": str(work / "restic"),
           "RESTIC_CACHE_DIR": str(work / "restic-cache")}
    source = work / "restic-src"
    source.mkdir()
    os.link(image, source / "disk.img")
    run(["restic", "init"], env=env)
    seconds, _rss, _out = run(["restic", "backup", "--quiet", "--host", "bench", "disk.img"], env=env, cwd=source)
    return seconds, folder_bytes(work / "restic")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--shapes", default=",".join(SHAPES))
    args = parser.parse_args()
    if not shutil.which("restic"):
        raise SystemExit("restic is missing (make bench installs it)")
    size = args.size_mib * MiB
    print(f"Full backups of {args.size_mib} MiB images on {os.cpu_count()} cores "
          f"({subprocess.run(['restic', 'version'], capture_output=True, text=True).stdout.split(' compiled')[0]})")
    print(f"{'shape':<11} {'limit MB/s':>10} {'Vaultline s':>11} {'MB/s':>6} {'of limit':>8} {'restic s':>8} "
          f"{'MB/s':>6} {'speed-up':>8} {'stored MiB (V / r)':>19}")
    for shape in args.shapes.split(","):
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR", ROOT / "var")) as folder:
            work = Path(folder)
            image = work / f"{shape}.img"
            SHAPES[shape](image, size)
            limit = compute_limit(image)
            ours, our_bytes = vaultline_full(work, image)
            theirs, their_bytes = restic_full(work, image)
            mb = size / 1e6
            print(f"{shape:<11} {limit:>10.0f} {ours:>11.2f} {mb / ours:>6.0f} {mb / ours / limit:>8.0%} {theirs:>8.2f} "
                  f"{mb / theirs:>6.0f} {theirs / ours:>7.1f}x {our_bytes / MiB:>9.0f} / {their_bytes / MiB:<8.0f}",
                  flush=True)


if __name__ == "__main__":
    main()
