"""Vaultline's repository against restic and borg on the same disk images, in one run.

    make bench        (installs restic and borg first)   or   .venv/bin/python bench/backup.py [--size-mib 2048]

Builds a day-1 image (zeros, compressible text, random bytes) and a day-2 copy with ~2% rewritten
in scattered places, then for each tool: full backup of day 1, incremental backup of day 2,
repository bytes after each, restore of day 2, and each step's peak memory. Vaultline also backs
day 2 up with the changed-block log (what a dirty bitmap or the lab workload's log gives).
Prints one table, each tool's ratio to Vaultline, and each pipeline stage's own throughput.
Every step runs in its own process, so its peak RSS is its own, after a sync() so it does not pay
for earlier steps' writes. Files are read from the page cache by every tool alike; each tool keeps
its local cache between steps (Vaultline's chunk index, restic's and borg's caches); Vaultline's
restore fsyncs what it wrote (restic and borg do not).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.images import MiB, make_day1, make_day2  # noqa: E402
from bench.process import run  # noqa: E402

PASSWORD = "bench-password"


def folder_bytes(path):
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def allocated(path):
    return os.stat(path).st_blocks * 512


# --- Vaultline, one step per process -----------------------------------------------------------


def vaultline_step(args):
    from repository import LocalStorage, Repository, new_key
    from repository.chunking import file_chunks

    storage = LocalStorage(args.repo)
    if args.step == "init":
        key = new_key()
        Repository.init(storage, key)
        Path(args.key).write_text(key.hex())
        return
    # The chunk index cache, kept between steps as the portal keeps it between jobs (restic and borg
    # keep theirs too).
    repo = Repository.open(storage, bytes.fromhex(Path(args.key).read_text()), cache_dir=args.cache)
    if args.step == "warm":
        repo.refresh_index()
    elif args.step == "backup":
        base, only = None, None
        if args.base:
            base = repo.load_point(args.base)["disks"][0]
            only = json.loads(Path(args.changed).read_text()) if args.changed else None  # sorted indexes
        with repo.writer() as writer:
            disk = writer.store_disk("disk0", os.path.getsize(args.image),
                                     file_chunks(args.image, repo.chunk_size, only), base=base)
            point = writer.commit({"vm": {"name": "bench"}, "disks": [disk]})
        print(json.dumps({"point": point, "read": writer.stats.bytes_read}))
    elif args.step in ("restore", "restore-unsynced"):
        repo.restore_disk(args.base, 0, args.image, durable=args.step == "restore")


def vaultline(work, day1, day2, changed):
    repo, key = work / "vaultline", work / "vaultline.key"
    me = [sys.executable, __file__, "--cache", str(work / "vaultline-cache"), "--step"]
    run(me + ["init", "--repo", repo, "--key", key])
    full, full_rss, out = run(me + ["backup", "--repo", repo, "--key", key, "--image", day1])
    point1 = json.loads(out)["point"]
    size1 = folder_bytes(repo)
    # The known-changes run gets its own copy of the day-1 repository, so it stores day 2's new
    # chunks itself (compresses, encrypts, writes) just as the plain incremental does.
    known_repo = work / "vaultline-known"
    shutil.copytree(repo, known_repo)
    run(me + ["warm", "--repo", known_repo, "--key", key])  # its own cache, as warm as the original's
    incr, incr_rss, out = run(me + ["backup", "--repo", repo, "--key", key, "--image", day2, "--base", point1])
    point2 = json.loads(out)["point"]
    size2 = folder_bytes(repo)
    known, known_rss, _ = run(me + ["backup", "--repo", known_repo, "--key", key, "--image", day2,
                                    "--base", point1, "--changed", changed])
    if folder_bytes(known_repo) - size1 > (size2 - size1) * 1.05:
        raise SystemExit("the known-changes backup stored more than the plain incremental")
    restored = work / "vaultline-restored.img"
    restore, restore_rss, _ = run(me + ["restore", "--repo", repo, "--key", key, "--image", restored, "--base", point2])
    same = subprocess.run(["cmp", "-s", day2, restored]).returncode == 0
    unsynced = work / "vaultline-unsynced.img"
    restore_unsynced, _rss, _ = run(me + ["restore-unsynced", "--repo", repo, "--key", key, "--image", unsynced,
                                          "--base", point2])
    same = same and subprocess.run(["cmp", "-s", day2, unsynced]).returncode == 0
    holes = allocated(restored) < os.path.getsize(restored)
    return {"full": full, "incremental": incr, "known": known, "size1": size1, "size2": size2,
            "restore": restore, "restore_unsynced": restore_unsynced,
            "rss": max(full_rss, incr_rss, known_rss, restore_rss),
            "correct": same, "holes": holes}


# --- restic and borg ---------------------------------------------------------------------------


def restic(work, day1, day2):
    env = {**os.environ, "RESTIC_PASSWORD": PASSWORD, "RESTIC_REPOSITORY": str(work / "restic"),
           "RESTIC_CACHE_DIR": str(work / "restic-cache")}
    return _file_tool(work, day1, day2, "restic", env,
                      init=["restic", "init"],
                      backup=["restic", "backup", "--quiet", "--host", "bench", "disk.img"],
                      restore=lambda target: ["restic", "restore", "latest", "--target", target])


def borg(work, day1, day2):
    borg_bin = str(Path(os.environ.get("BORG") or shutil.which("borg")).resolve())
    repo = work / "borg"
    env = {**os.environ, "BORG_PASSPHRASE": PASSWORD, "BORG_BASE_DIR": str(work / "borg-home")}
    names = iter(("day1", "day2"))
    return _file_tool(work, day1, day2, "borg", env,
                      init=[borg_bin, "init", "--encryption=repokey-blake2", str(repo)],
                      backup=lambda: [borg_bin, "create", "--compression", "zstd,3", f"{repo}::{next(names)}", "disk.img"],
                      restore=lambda target: [borg_bin, "extract", "--sparse", f"{repo}::day2"])


def _file_tool(work, day1, day2, name, env, init, backup, restore):
    source = work / f"{name}-src"
    source.mkdir()
    run(init, env=env)
    results = {}
    for day, image in (("1", day1), ("2", day2)):
        (source / "disk.img").unlink(missing_ok=True)
        os.link(image, source / "disk.img")
        command = backup() if callable(backup) else backup
        results[f"backup{day}"], results[f"rss{day}"], _ = run(command, env=env, cwd=source)
        results[f"size{day}"] = folder_bytes(work / name)
    target = work / f"{name}-restored"
    target.mkdir()
    results["restore"], restore_rss, _ = run(restore(str(target)), env=env, cwd=target)
    restored = next(p for p in target.rglob("disk.img"))
    return {"full": results["backup1"], "incremental": results["backup2"], "size1": results["size1"],
            "size2": results["size2"], "restore": results["restore"],
            "rss": max(results["rss1"], results["rss2"], restore_rss),
            "correct": subprocess.run(["cmp", "-s", day2, restored]).returncode == 0,
            "holes": allocated(restored) < os.path.getsize(restored)}


# --- Stages --------------------------------------------------------------------------------------


def stage_throughput(image, work, sample=256 * MiB):
    """Each stage alone, on one thread, over the first `sample` bytes of the image."""
    from repository import LocalStorage, new_key
    from repository.chunking import file_chunks
    from repository.crypto import Keys

    keys = Keys(new_key())
    chunk_size = 64 * 1024
    sample_path = work / "sample.img"
    with open(image, "rb") as source, open(sample_path, "wb") as target:
        target.write(source.read(sample))
    rates = {}

    def timed(stage, function, nbytes):
        started = time.perf_counter()
        result = function()
        rates[stage] = nbytes / MiB / (time.perf_counter() - started)
        return result

    chunks = timed("read", lambda: [data for _i, data in file_chunks(sample_path, chunk_size) if data], sample)
    total = sum(map(len, chunks))
    timed("hash", lambda: [keys.chunk_id(c) for c in chunks], total)
    import zstandard

    compressor = zstandard.ZstdCompressor(level=3)  # one context, as each pipeline thread keeps
    compressed = timed("compress", lambda: [compressor.compress(c) for c in chunks], total)
    # Every rate is in MiB of the disk's (non-zero) data per second, so the stages compare directly.
    sealed = timed("encrypt", lambda: [keys.seal(c, b"x", compress=False) for c in compressed], total)
    storage = LocalStorage(work / "stage-write")
    blob = b"".join(sealed)
    timed("write", lambda: [storage.write(f"p{i}", blob[i:i + 16 * MiB]) for i in range(0, len(blob), 16 * MiB)],
          total)
    return rates


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--step")
    parser.add_argument("--repo")
    parser.add_argument("--key")
    parser.add_argument("--image")
    parser.add_argument("--base")
    parser.add_argument("--changed")
    parser.add_argument("--cache")
    args = parser.parse_args()
    if args.step == "stages":  # in a fresh process, like every measured step
        print(json.dumps(stage_throughput(Path(args.image), Path(args.repo))))
        return None
    if args.step:
        return vaultline_step(args)

    borg_bin = os.environ.get("BORG") or shutil.which("borg")
    missing = [tool for tool, path in (("restic", shutil.which("restic")), ("borg", borg_bin)) if not path]
    if missing:
        raise SystemExit(f"missing: {missing} (make bench installs them)")
    size = args.size_mib * MiB
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR", ROOT / "var")) as folder:
        work = Path(folder)
        day1, day2 = work / "day1.img", work / "day2.img"
        print(f"Building a {args.size_mib} MiB day-1 image and its day-2 copy…", flush=True)
        make_day1(day1, size)
        changed = make_day2(day1, day2)
        (work / "changed.json").write_text(json.dumps(changed))
        results = {}
        for name, tool in (("vaultline", lambda: vaultline(work, day1, day2, work / "changed.json")),
                           ("restic", lambda: restic(work, day1, day2)),
                           ("borg", lambda: borg(work, day1, day2))):
            print(f"Running {name}…", flush=True)
            results[name] = tool()
        stages = json.loads(run([sys.executable, __file__, "--step", "stages", "--image", day1, "--repo", work])[2])

    mb = size / 1e6
    print(f"\nImage {args.size_mib} MiB; day 2 rewrites 2% in scattered 4-64 KiB writes "
          f"({len(changed)} of {size // (64 * 1024)} 64 KiB chunks touched).")
    header = (f"{'tool':<10} {'full s':>7} {'full MB/s':>9} {'incr s':>7} {'known s':>8} {'repo d1 MiB':>11} "
              f"{'d1->d2 MiB':>10} {'restore s':>9} {'peak RSS MiB':>12} {'correct':>7} {'holes':>5}")
    print(header)
    for name, r in results.items():
        print(f"{name:<10} {r['full']:>7.1f} {mb / r['full']:>9.0f} {r['incremental']:>7.1f} "
              f"{r.get('known', float('nan')):>8.1f} {r['size1'] / MiB:>11.1f} {(r['size2'] - r['size1']) / MiB:>10.1f} "
              f"{r['restore']:>9.1f} {r['rss']:>12.0f} {str(r['correct']):>7} {str(r['holes']):>5}")
    v = results["vaultline"]
    print("\nVaultline's advantage (other tool's figure / Vaultline's; growth: Vaultline's / other's):")
    for name in ("restic", "borg"):
        r = results[name]
        print(f"  vs {name:<7} full backup {r['full'] / v['full']:.1f}x, incremental {r['incremental'] / v['incremental']:.1f}x, "
              f"incremental with known changes {r['incremental'] / v['known']:.1f}x, "
              f"growth {(v['size2'] - v['size1']) / max(1, r['size2'] - r['size1']):.2f} of theirs, "
              f"restore {r['restore'] / v['restore']:.1f}x ({r['restore'] / v['restore_unsynced']:.1f}x without fsync, as they write)")
    print("\nStages alone, one thread, 64 KiB chunks (MiB of disk data per second; read includes cutting into chunks): " + ", ".join(f"{k} {v:.0f}" for k, v in stages.items()))


if __name__ == "__main__":
    main()
