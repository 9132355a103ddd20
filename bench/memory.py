"""Peak memory of Vaultline's repository as disks grow: does it stay flat?

    .venv/bin/python bench/memory.py [--sizes-gib 1,4,16,64] [--restore-max-gib 16]

Each disk is synthetic: every 64 KiB chunk different (so the index holds one entry per chunk) but
nearly all zeros (so it compresses to ~100 bytes and a 64 GiB disk costs seconds and megabytes).
For each size, in its own process so the peak RSS is its own: a full backup, an incremental of a
few changed chunks on top of it, a verify, and a restore to a file (up to --restore-max-gib; the
restored file is as big as the disk). Prints one row per size.
"""

import argparse
import json
import os
import struct
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.process import run  # noqa: E402

GiB = 1024 ** 3
CHUNK = 64 * 1024


def synthetic_chunks(size, only=None, day=1):
    """(index, bytes) for each chunk: its index and the day written in the first bytes, zeros after."""
    pad = bytes(CHUNK - 16)
    for index in only if only is not None else range(size // CHUNK):
        yield index, struct.pack("<QQ", index + 1, day) + pad


def step(args):
    from repository import LocalStorage, Repository, new_key

    storage = LocalStorage(args.repo)
    size = args.gib * GiB
    started = time.perf_counter()
    if args.step == "full":
        key = new_key()
        Path(args.key).write_text(key.hex())
        repo = Repository.init(storage, key, cache_dir=args.cache)
    else:
        repo = Repository.open(storage, bytes.fromhex(Path(args.key).read_text()), cache_dir=args.cache)
    result = {}
    if args.step in ("full", "incremental"):
        base, only, day = None, None, 1
        if args.step == "incremental":
            (point,) = repo.point_ids()
            base = repo.load_point(point)["disks"][0]
            count = size // CHUNK
            only, day = range(0, count, max(1, count // 64)), 2  # 64 chunks changed, spread over the disk
        with repo.writer() as writer:
            disk = writer.store_disk("disk0", size, synthetic_chunks(size, only, day), base=base)
            writer.commit({"vm": {"name": "bench"}, "disks": [disk]})
        result["chunks"] = writer.stats.new_chunks
    elif args.step == "verify":
        report = repo.verify()
        assert report.ok, report.damaged_objects
        result["checked"] = report.chunks_checked
    elif args.step == "restore":
        point = max(repo.points(), key=lambda p: p["created"])["id"]
        repo.restore_disk(point, 0, args.out, durable=False)
        os.unlink(args.out)
    result["seconds"] = time.perf_counter() - started
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes-gib", default="1,4,16,64")
    parser.add_argument("--restore-max-gib", type=int, default=16)
    parser.add_argument("--step")
    parser.add_argument("--repo")
    parser.add_argument("--cache")
    parser.add_argument("--key")
    parser.add_argument("--out")
    parser.add_argument("--gib", type=int)
    args = parser.parse_args()
    if args.step:
        return step(args)

    print(f"{'disk GiB':>8} {'chunks':>9} {'full s':>7} {'full MiB':>8} {'incr s':>7} {'incr MiB':>8} "
          f"{'verify s':>8} {'verify MiB':>10} {'restore s':>9} {'restore MiB':>11}   (MiB: peak RSS)")
    for gib in (int(size) for size in args.sizes_gib.split(",")):
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR", ROOT / "var")) as folder:
            work = Path(folder)
            me = [sys.executable, __file__, "--gib", str(gib), "--repo", str(work / "repo"),
                  "--cache", str(work / "cache"), "--key", str(work / "key"), "--out", str(work / "restored.img")]
            row = {}
            for name in ("full", "incremental", "verify", "restore"):
                if name == "restore" and gib > args.restore_max_gib:
                    row[name] = (float("nan"), float("nan"))
                    continue
                seconds, rss, out = run(me + ["--step", name])
                row[name] = (seconds, rss)
                row.setdefault("chunks", json.loads(out).get("chunks"))
            print(f"{gib:>8} {row['chunks']:>9} {row['full'][0]:>7.1f} {row['full'][1]:>8.0f} "
                  f"{row['incremental'][0]:>7.1f} {row['incremental'][1]:>8.0f} {row['verify'][0]:>8.1f} "
                  f"{row['verify'][1]:>10.0f} {row['restore'][0]:>9.1f} {row['restore'][1]:>11.0f}", flush=True)
    return None


if __name__ == "__main__":
    main()
