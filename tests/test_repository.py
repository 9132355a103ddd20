"""The repository format on its own: no Django, no portal database."""

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from repository import (
    DamagedData,
    LocalStorage,
    Repository,
    RepositoryLocked,
    S3Storage,
    WrongKey,
    new_key,
)
from repository.chunking import file_chunks
from repository.lock import LOCK_NAME
from tests.conftest import flip_a_bit

MiB = 1024 * 1024


def make_image(path, size=8 * MiB, seed=0):
    """Holes, compressible text and random bytes, in 256 KiB regions."""
    rng = random.Random(seed)
    with open(path, "wb") as image:
        image.truncate(size)
        for offset in range(0, size, 256 * 1024):
            kind = rng.choice(["hole", "hole", "text", "random"])
            if kind == "hole":
                continue
            image.seek(offset)
            block = rng.randbytes(256 * 1024) if kind == "random" else (b"record %08d\n" % offset) * 20000
            image.write(block[: 256 * 1024])
    return path


def scribble(path, writes=20, seed=1):
    """Overwrite a few scattered 4 KiB blocks, as a running VM does. Returns the chunk indexes touched."""
    rng = random.Random(seed)
    size = os.path.getsize(path)
    touched = set()
    with open(path, "r+b") as image:
        for _ in range(writes):
            offset = rng.randrange(0, size // 4096) * 4096
            image.seek(offset)
            image.write(rng.randbytes(4096))
            touched.add(offset // (64 * 1024))
    return touched


def backup(repo, image, base=None, only=None, **manifest):
    with repo.writer() as writer:
        disk = writer.store_disk("disk0", os.path.getsize(image), file_chunks(image, repo.chunk_size, only), base=base)
        point = writer.commit({"vm": {"name": "vm1"}, "consistency": "crash", "disks": [disk]} | manifest)
    return point, writer.stats


def allocated(path):
    return os.stat(path).st_blocks * 512


def test_round_trip_keeps_bytes_and_holes(tmp_path, repo, key):
    image = make_image(tmp_path / "disk.img")
    point, stats = backup(repo, image)
    assert stats.zero_bytes > 0 and stats.stored_bytes < stats.new_bytes, "zeros elided, text compressed"
    reopened = Repository.open(LocalStorage(tmp_path / "repo"), key)
    out = tmp_path / "restored.img"
    reopened.restore_disk(point, 0, out)
    assert out.read_bytes() == image.read_bytes()
    assert allocated(out) <= allocated(image) + 64 * 1024, "zero regions stay holes"
    assert b"".join(reopened.stream_disk(point, 0)) == image.read_bytes()


def test_nothing_readable_without_the_key(tmp_path, repo):
    image = make_image(tmp_path / "disk.img")
    assert b"record 00" in image.read_bytes(), "the image holds text to look for"
    backup(repo, image, vm={"name": "payroll-database-primary"})
    everything = b"".join(p.read_bytes() for p in (tmp_path / "repo").rglob("*") if p.is_file())
    assert b"record 00" not in everything and b"payroll-database" not in everything


def test_a_wrong_key_is_a_clear_error(tmp_path, repo):
    with pytest.raises(WrongKey):
        Repository.open(LocalStorage(tmp_path / "repo"), new_key())


def test_a_second_backup_stores_only_what_changed(tmp_path, repo):
    image = make_image(tmp_path / "disk.img")
    first, _ = backup(repo, image)
    before = image.read_bytes()
    scribble(image)
    second, stats = backup(repo, image)
    assert stats.new_chunks <= 20 and stats.reused_chunks > 20
    for point, expected in ((first, before), (second, image.read_bytes())):
        out = tmp_path / f"{point}.img"
        repo.restore_disk(point, 0, out)
        assert out.read_bytes() == expected


def test_known_changed_blocks_read_only_those(tmp_path, repo):
    image = make_image(tmp_path / "disk.img")
    first, _ = backup(repo, image)
    touched = scribble(image)
    base = repo.load_point(first)["disks"][0]
    second, stats = backup(repo, image, base=base, only=sorted(touched))
    assert stats.bytes_read <= len(touched) * repo.chunk_size
    out = tmp_path / "second.img"
    repo.restore_disk(second, 0, out)
    assert out.read_bytes() == image.read_bytes()


@pytest.fixture
def small_pieces(monkeypatch):
    """Chunk lists cut into pieces of 16 ids, so an 8 MiB image is 8 pieces (as a 8 GiB disk is)."""
    monkeypatch.setattr("repository.packs.PIECE_CHUNKS", 16)
    monkeypatch.setattr("repository.writer.PIECE_CHUNKS", 16)


def test_a_disk_is_listed_in_pieces_and_an_incremental_shares_the_untouched_ones(tmp_path, repo, small_pieces):
    image = make_image(tmp_path / "disk.img")
    first, _ = backup(repo, image)
    before = image.read_bytes()
    first_lists = repo.load_point(first)["disks"][0]["lists"]
    assert len(first_lists) == 8
    touched = scribble(image, writes=3)
    second, stats = backup(repo, image, base=repo.load_point(first)["disks"][0], only=sorted(touched))
    second_lists = repo.load_point(second)["disks"][0]["lists"]
    changed_pieces = {index // 16 for index in touched}
    assert [number for number in range(8) if first_lists[number] != second_lists[number]] == sorted(changed_pieces)
    for point, expected in ((first, before), (second, image.read_bytes())):
        out = tmp_path / f"{point}.img"
        repo.restore_disk(point, 0, out)
        assert out.read_bytes() == expected
        assert b"".join(repo.stream_disk(point, 0)) == expected

    repo.delete_point(first)
    repo.prune()
    assert sorted(name.split("/")[1] for name in repo.storage.list("lists/")) == sorted(set(second_lists))
    assert repo.verify().ok
    out = tmp_path / "after-prune.img"
    repo.restore_disk(second, 0, out)
    assert out.read_bytes() == image.read_bytes()


def test_a_damaged_chunk_list_is_named_with_its_point(tmp_path, repo, small_pieces):
    image = make_image(tmp_path / "disk.img")
    point, _ = backup(repo, image)
    sharing, _ = backup(repo, image, base=repo.load_point(point)["disks"][0], only=[])  # nothing changed
    list_id = repo.load_point(point)["disks"][0]["lists"][3]
    assert repo.load_point(sharing)["disks"][0]["lists"][3] == list_id
    repo.storage.delete(f"lists/{list_id}")
    report = repo.verify()
    assert f"lists/{list_id}" in report.damaged_objects and report.affected_points == sorted([point, sharing])
    with pytest.raises(DamagedData, match="chunk-list piece"):
        repo.restore_disk(point, 0, tmp_path / "out.img")


def test_a_chunk_list_piece_found_damaged_is_not_shared_again(tmp_path, repo, small_pieces):
    image = make_image(tmp_path / "disk.img")
    point, _ = backup(repo, image)
    disk = repo.load_point(point)["disks"][0]
    flip_a_bit(Path(repo.storage.location) / "lists" / disk["lists"][3], at=40)
    assert f"lists/{disk['lists'][3]}" in repo.verify().damaged_objects
    with pytest.raises(DamagedData, match="chunk-list piece"):
        backup(repo, image, base=disk, only=[])  # today it shared the damaged piece untouched
    healed, _ = backup(repo, image)  # read whole (what the portal then does): the piece is written anew
    assert repo.load_point(healed)["disks"][0]["lists"][3] == disk["lists"][3]
    assert repo.verify().ok, "both points read whole again"


def test_a_chunk_found_damaged_is_stored_anew_and_reads_take_the_new_copy(tmp_path, repo, key):
    image = make_image(tmp_path / "disk.img")
    point, _ = backup(repo, image)
    (pack,) = [name for name in repo.storage.list("packs/")]
    flip_a_bit(Path(repo.storage.location) / pack, at=1000)
    with pytest.raises(DamagedData):
        repo.restore_disk(point, 0, tmp_path / "first.img")  # the restore writes the damage down
    other = Repository.open(repo.storage, key)  # another host: it learns of the damage from the repository
    again, stats = backup(other, image)
    assert stats.new_chunks >= 1, "the damaged chunk was not deduplicated against"
    assert other.verify().ok
    for restored_point in (point, again):
        out = tmp_path / f"{restored_point}.img"
        other.restore_disk(restored_point, 0, out)
        assert out.read_bytes() == image.read_bytes()


def test_repacking_never_counts_a_damaged_copy_as_the_other_copy(tmp_path, repo):
    from repository.index import ChunkIndex

    index = ChunkIndex(tmp_path / "index.sqlite3")
    chunk = b"c" * 32
    index.add_pack("A", [(chunk, 0, 10)])
    index.add_pack("B", [(chunk, 0, 10), (b"d" * 32, 10, 10)])
    index.add_mark("damaged/x", [("A", chunk)], [])  # A's copy was found damaged; B holds the good one
    with index.temporary_set([[chunk]]) as needed, index.temporary_set([["B"]]) as repacking:
        live = index.live_without_other_copy("B", needed, repacking, trusted_up_to=10, writer="w")
    assert [row[3] for row in live] == [chunk], "B's copy is copied: A's damaged one is no other copy"


def test_a_chunk_no_pack_holds_is_written_down_and_the_next_backup_reads_whole(tmp_path, repo, key):
    image = make_image(tmp_path / "disk.img")
    point, _ = backup(repo, image)
    for pack in repo.storage.list("packs/"):  # a lost pack, and its index object with it
        repo.storage.delete(pack)
        repo.storage.delete("index/" + pack.rsplit("/", 1)[1])
    fresh = Repository.open(repo.storage, key)
    assert not fresh.verify().ok
    disk = fresh.load_point(point)["disks"][0]
    assert fresh.refers_to_damage(disk), "the point needs chunks no pack holds: never built on"
    healed, stats = backup(fresh, image)  # read whole, as the portal then does
    assert stats.new_chunks > 0 and fresh.verify().ok
    assert not fresh.refers_to_damage(disk), "once stored anew, the old point is whole again"


def test_a_piece_found_damaged_then_rewritten_is_built_on_again(tmp_path, repo, small_pieces):
    image = make_image(tmp_path / "disk.img")
    point, _ = backup(repo, image)
    disk = repo.load_point(point)["disks"][0]
    flip_a_bit(Path(repo.storage.location) / "lists" / disk["lists"][2], at=40)
    repo.verify()
    assert repo.refers_to_damage(disk)
    backup(repo, image)  # a whole read writes the piece anew under the same name
    assert not repo.refers_to_damage(disk), "the mark no longer keeps every later backup a full read"
    assert repo.is_restorable(point)


def test_the_chunk_index_is_kept_between_opens_and_follows_the_storage(tmp_path, key):
    """The index cache outlives the process, but never makes a backup reuse a chunk that another
    host's prune removed meanwhile."""
    storage = LocalStorage(tmp_path / "repo")
    here = Repository.init(storage, key, cache_dir=tmp_path / "cache-here")
    image = make_image(tmp_path / "disk.img")
    _, first = backup(here, image)
    cache_file = Path(here.index.path)
    assert cache_file.parent == tmp_path / "cache-here" and cache_file.exists()
    again = Repository.open(storage, key, cache_dir=tmp_path / "cache-here")
    _, stats = backup(again, image)
    assert stats.new_chunks == 0, "every chunk found in the kept index"

    elsewhere = Repository.open(storage, key, cache_dir=tmp_path / "cache-elsewhere")
    for point_id in elsewhere.point_ids():
        elsewhere.delete_point(point_id)
    elsewhere.prune()
    assert storage.list("packs/") == []

    later = Repository.open(storage, key, cache_dir=tmp_path / "cache-here")
    point, stats = backup(later, image)
    assert stats.new_chunks == first.new_chunks > 0, "the vanished packs' chunks are stored again"
    out = tmp_path / "restored.img"
    later.restore_disk(point, 0, out)
    assert out.read_bytes() == image.read_bytes()


def test_a_late_echo_of_a_pruned_pack_is_never_built_on(tmp_path, key):
    """A process that read a pack's index object just before a prune may record it in the shared
    cache just after: a backup holding the lock must not take those chunks for stored."""
    repo = Repository.init(LocalStorage(tmp_path / "repo"), key, cache_dir=tmp_path / "cache")
    image = make_image(tmp_path / "disk.img")
    point, first = backup(repo, image)
    read_before_the_prune = [(pack, repo._pack_entries(pack)) for pack in repo.index.pack_names()]
    repo.delete_point(point)
    repo.prune()
    assert repo.index.pack_names() == []

    def chunks_with_a_late_echo():
        for pack, entries in read_before_the_prune:  # recorded after this backup refreshed the index
            Repository.open(repo.storage, key, cache_dir=tmp_path / "cache").index.add_pack(pack, entries)
        yield from file_chunks(image, repo.chunk_size)

    with repo.writer() as writer:
        disk = writer.store_disk("disk0", os.path.getsize(image), chunks_with_a_late_echo())
        again = writer.commit({"disks": [disk]})
    assert writer.stats.new_chunks == first.new_chunks
    out = tmp_path / "restored.img"
    Repository.open(repo.storage, key).restore_disk(again, 0, out)
    assert out.read_bytes() == image.read_bytes()


def test_two_copies_of_one_repository_keep_separate_caches(tmp_path, key):
    import shutil

    repo = Repository.init(LocalStorage(tmp_path / "repo"), key, cache_dir=tmp_path / "cache")
    backup(repo, make_image(tmp_path / "disk.img"))
    shutil.copytree(tmp_path / "repo", tmp_path / "copy")
    copy = Repository.open(LocalStorage(tmp_path / "copy"), key, cache_dir=tmp_path / "cache")
    assert copy.config["id"] == repo.config["id"] and copy.index.path != repo.index.path


def test_a_damaged_index_cache_is_rebuilt(tmp_path, key):
    storage = LocalStorage(tmp_path / "repo")
    repo = Repository.init(storage, key, cache_dir=tmp_path / "cache")
    image = make_image(tmp_path / "disk.img")
    point, _ = backup(repo, image)
    repo.index.close()  # an open connection would go on serving the old pages from its WAL
    for suffix in ("-wal", "-shm"):
        Path(repo.index.path + suffix).unlink(missing_ok=True)
    Path(repo.index.path).write_bytes(b"not a database" * 100)
    reopened = Repository.open(storage, key, cache_dir=tmp_path / "cache")
    assert reopened.index.path == repo.index.path
    # Started again and refilled from the storage, not read as it was.
    assert Path(reopened.index.path).read_bytes().startswith(b"SQLite format 3\x00")
    assert reopened.index.pack_names()
    out = tmp_path / "restored.img"
    reopened.restore_disk(point, 0, out)
    assert out.read_bytes() == image.read_bytes()


def test_an_interrupted_backup_leaves_no_point_and_its_chunks_are_reused(tmp_path, repo, key):
    image = tmp_path / "random.img"
    image.write_bytes(os.urandom(48 * MiB))  # incompressible, every chunk different: packs fill up

    def chunks_then_crash():
        for number, chunk in enumerate(file_chunks(image, repo.chunk_size)):
            if number == 600:  # ~37 MiB in: two 16 MiB packs are out
                raise RuntimeError("the worker died")
            yield chunk

    with pytest.raises(RuntimeError), repo.writer() as writer:
        writer.store_disk("disk0", os.path.getsize(image), chunks_then_crash())
    assert repo.point_ids() == []
    assert len(repo.storage.list("packs/")) >= 2, "packs written before the interruption stay"
    fresh = Repository.open(repo.storage, key)
    point, stats = backup(fresh, image)
    total = os.path.getsize(image) // repo.chunk_size
    assert stats.reused_chunks >= 500 and stats.new_chunks <= total - 500
    out = tmp_path / "after.img"
    fresh.restore_disk(point, 0, out)
    assert out.read_bytes() == image.read_bytes()
    assert fresh.verify().ok


def test_a_flipped_byte_is_found_and_never_restored(tmp_path, repo):
    image = make_image(tmp_path / "disk.img")
    other = make_image(tmp_path / "other.img", seed=9)
    damaged_point, _ = backup(repo, image)
    clean_point, _ = backup(repo, other)
    # Flip one byte inside the pack holding the first point's first data chunk.
    first_id = next(i for i in repo.chunk_ids(repo.load_point(damaged_point)["disks"][0]) if any(i))
    pack, offset, length = repo.index.locate([first_id])[first_id]
    pack_file = tmp_path / "repo" / "packs" / pack[:2] / pack
    data = bytearray(pack_file.read_bytes())
    data[offset + length // 2] ^= 0x01
    pack_file.write_bytes(bytes(data))

    report = repo.verify()
    assert not report.ok and pack in report.damaged_objects
    assert damaged_point in report.affected_points
    out = tmp_path / "restored.img"
    with pytest.raises(DamagedData):
        repo.restore_disk(damaged_point, 0, out)
    assert not out.exists() and not (tmp_path / "restored.img.partial").exists()


def test_a_missing_pack_names_the_points_it_affects(tmp_path, repo):
    image = make_image(tmp_path / "disk.img")
    point, _ = backup(repo, image)
    for pack_file in (tmp_path / "repo" / "packs").rglob("*"):
        if pack_file.is_file():
            pack_file.unlink()
    report = repo.verify()
    assert report.affected_points == [point]


def test_backups_share_the_repository_and_prune_holds_it_alone(repo):
    with repo.writer() as first, repo.writer() as second:  # two backups at once
        assert first.lock.is_ours() and second.lock.is_ours()
        with pytest.raises(RepositoryLocked, match="being written by process"):
            with repo.writer(exclusive=True):
                pass
    with repo.writer(exclusive=True):
        with pytest.raises(RepositoryLocked, match="being written by process"):
            with repo.writer():
                pass
        with pytest.raises(RepositoryLocked, match="being written by process"):
            with repo.writer(exclusive=True):
                pass
    with repo.writer():  # released
        pass
    assert repo.storage.list("locks/") == [], "every lock object goes with its holder"


def test_a_live_lock_is_not_broken_but_a_reused_pid_is_seen_through(repo):
    import json
    import socket
    import time

    from repository.lock import process_start

    alive = {"host": socket.gethostname(), "pid": os.getpid(), "started": process_start(os.getpid()),
             "at": time.time(), "token": "someone-else"}
    repo.storage.write(LOCK_NAME, json.dumps(alive).encode())
    with pytest.raises(RepositoryLocked):
        with repo.writer():
            pass
    assert json.loads(repo.storage.read(LOCK_NAME))["token"] == "someone-else"
    # The same pid, but started at another time: the holder died and its pid went to someone else.
    repo.storage.write(LOCK_NAME, json.dumps({**alive, "started": "another-boot:1"}).encode())
    with repo.writer():
        pass


def test_a_writer_whose_lock_was_taken_does_not_commit(tmp_path, repo):
    import json

    image = make_image(tmp_path / "disk.img")
    with pytest.raises(RepositoryLocked, match="lost"):
        with repo.writer() as writer:
            disk = writer.store_disk("disk0", os.path.getsize(image), file_chunks(image, repo.chunk_size))
            holder = json.loads(repo.storage.read(writer.lock.name))
            repo.storage.write(writer.lock.name, json.dumps({**holder, "token": "intruder"}).encode())
            writer.commit({"disks": [disk]})
    assert repo.point_ids() == []
    (lock,) = repo.storage.list("locks/")
    assert json.loads(repo.storage.read(lock))["token"] == "intruder", "not ours to remove"


def test_a_damaged_index_object_is_reported_and_the_packs_still_serve(tmp_path, repo, key):
    image = make_image(tmp_path / "disk.img")
    point, _ = backup(repo, image)
    (index_object,) = (tmp_path / "repo" / "index").iterdir()
    index_object.write_bytes(b"garbage" + index_object.read_bytes()[7:])
    reopened = Repository.open(LocalStorage(tmp_path / "repo"), key)
    report = reopened.verify()
    assert f"index/{index_object.name}" in report.damaged_objects and report.affected_points == []
    out = tmp_path / "restored.img"
    reopened.restore_disk(point, 0, out)
    assert out.read_bytes() == image.read_bytes()


def test_a_stale_lock_of_a_dead_process_is_broken(repo):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import json
    import socket
    import time

    record = {"host": socket.gethostname(), "pid": int(dead.stdout), "at": time.time()}
    repo.storage.write(LOCK_NAME, json.dumps(record).encode())
    with repo.writer():
        pass


def test_the_next_writer_removes_temporary_files_a_killed_writer_left(tmp_path, repo):
    image = make_image(tmp_path / "disk.img")
    point, _ = backup(repo, image)
    root = Path(repo.storage.location)
    left = root / "packs" / "ab" / ".tmp-killed-mid-write"
    left.parent.mkdir(parents=True, exist_ok=True)
    left.write_bytes(b"half a pack of plain-looking bytes")
    os.utime(left, (1, 1))  # written long ago
    fresh = root / "packs" / "ab" / ".tmp-being-written-now"
    fresh.write_bytes(b"another writer's file, this very moment")
    with repo.writer():
        pass
    assert not left.exists() and fresh.exists()
    assert repo.verify().ok and point in repo.point_ids()


def test_the_command_line_lists_verifies_and_restores(tmp_path, repo, key):
    image = make_image(tmp_path / "disk.img")
    point, _ = backup(repo, image)
    key_file = tmp_path / "key"
    key_file.write_text(key.hex())
    base = [sys.executable, "-m", "repository", "--repo", str(tmp_path / "repo"), "--key-file", str(key_file)]
    listed = subprocess.run(base + ["list"], capture_output=True, text=True, check=True)
    assert point in listed.stdout and "vm1" in listed.stdout
    verified = subprocess.run(base + ["verify"], capture_output=True, text=True)
    assert verified.returncode == 0 and "0 recovery points" not in verified.stdout
    out = tmp_path / "cli.img"
    subprocess.run(base + ["restore", point, "disk0", str(out)], check=True, capture_output=True)
    assert out.read_bytes() == image.read_bytes()
    key_file.write_text(new_key().hex())
    wrong = subprocess.run(base + ["list"], capture_output=True, text=True)
    assert wrong.returncode == 2 and "does not open" in wrong.stderr


def test_s3_storage_round_trip(tmp_path, s3_server, key):
    import boto3

    options = {"endpoint_url": s3_server, "aws_access_key_id": "test", "aws_secret_access_key": "test",
               "region_name": "us-east-1"}
    boto3.client("s3", **options).create_bucket(Bucket="vault")
    storage = S3Storage("vault", "east/vault-1", **options)
    repo = Repository.init(storage, key)
    image = make_image(tmp_path / "disk.img")
    point, _ = backup(repo, image)
    reopened = Repository.open(S3Storage("vault", "east/vault-1", **options), key)
    out = tmp_path / "from-s3.img"
    reopened.restore_disk(point, 0, out)
    assert out.read_bytes() == image.read_bytes()
    assert reopened.verify().ok
    with reopened.writer(), reopened.writer():  # backups share it, on S3 too
        with pytest.raises(RepositoryLocked):
            with reopened.writer(exclusive=True):
                pass
    assert reopened.storage.list("locks/") == []


def test_prune_repacks_mostly_dead_packs(tmp_path, repo, key):
    """After most of a disk was rewritten and the old point deleted, the old packs hold mostly dead
    chunks: prune copies their live chunks into new packs and deletes them, and nothing is lost."""
    image = tmp_path / "disk.img"
    rng = random.Random(7)
    image.write_bytes(rng.randbytes(40 * MiB))  # incompressible: each 16 MiB pack holds ~256 chunks
    old, _ = backup(repo, image)
    first_packs = set(repo.index.pack_names())
    with open(image, "r+b") as disk:
        for offset in range(0, 40 * MiB, 256 * 1024):  # rewrite 3 of every 4 chunks
            disk.seek(offset + 64 * 1024)
            disk.write(rng.randbytes(192 * 1024))
    new, _ = backup(repo, image)
    second_packs = set(repo.index.pack_names()) - first_packs
    readers = [Repository.open(repo.storage, key, cache_dir=tmp_path / f"reader-{n}") for n in range(2)]
    for reader in readers:
        assert reader.index.pack_names(), "a restore that looked the chunks up before the prune"
    repo.delete_point(old)
    before = repo.storage.total_size()
    freed = repo.prune()
    after = repo.storage.total_size()
    assert freed > 25 * MiB and before - after > 25 * MiB, "the rewritten quarter of the old data is gone"
    remaining = set(Repository.open(repo.storage, key).index.pack_names())
    assert first_packs.isdisjoint(remaining) and second_packs <= remaining, "old packs repacked, new ones kept"
    # Readers whose index still names the repacked packs find the chunks in their new packs.
    readers[0].restore_disk(new, 0, tmp_path / "by-a-reader.img")
    assert (tmp_path / "by-a-reader.img").read_bytes() == image.read_bytes()
    assert b"".join(readers[1].stream_disk(new, 0)) == image.read_bytes()
    report = Repository.open(repo.storage, key).verify()
    assert report.ok and report.points == [new]
    out = tmp_path / "restored.img"
    Repository.open(repo.storage, key).restore_disk(new, 0, out)
    assert out.read_bytes() == image.read_bytes()


class CountedProgress:
    """What prune reports, summed: its total, and the bytes it said it had done."""

    def __init__(self):
        self.total, self.done = None, 0

    def restart(self, total):
        self.total, self.done = total, 0

    def advance(self, amount):
        self.done += amount


def test_prune_reports_each_pack_once(tmp_path, repo):
    """A wholly dead pack is deleted, not also repacked: the job's bar ends at 100%, not past it."""
    image = tmp_path / "disk.img"
    image.write_bytes(random.Random(9).randbytes(8 * MiB))
    point, _ = backup(repo, image)
    repo.delete_point(point)
    progress = CountedProgress()
    freed = repo.prune(progress=progress)
    assert progress.done == progress.total == freed > 0
    assert repo.index.pack_names() == []


def test_repacking_keeps_one_copy_of_a_chunk_held_by_two_sparse_packs(tmp_path, repo, key):
    image = tmp_path / "disk.img"
    image.write_bytes(random.Random(8).randbytes(8 * MiB))
    old, _ = backup(repo, image)
    (first_pack,) = repo.index.pack_names()
    with repo.writer() as writer:  # a second copy of every chunk, in a second pack (as a lost race leaves)
        for chunk_id, _length in repo.index.pack_chunks(first_pack):
            _pack, offset, length = repo.index.locate([chunk_id])[chunk_id]
            writer.append(chunk_id, repo.storage.read_range(f"packs/{first_pack[:2]}/{first_pack}", offset, length))
        writer.flush()
    assert len(repo.index.pack_names()) == 2
    with open(image, "r+b") as disk:  # the new point needs only the first quarter: both packs mostly dead
        disk.seek(2 * MiB)
        disk.write(bytes(6 * MiB))
    new, _ = backup(repo, image)
    repo.delete_point(old)
    repo.prune()
    assert first_pack not in repo.index.pack_names()
    assert Repository.open(repo.storage, key).verify().ok
    out = tmp_path / "restored.img"
    Repository.open(repo.storage, key).restore_disk(new, 0, out)
    assert out.read_bytes() == image.read_bytes()


@pytest.mark.parametrize("size", [0, 1, 4096, 64 * 1024, 128 * 1024, 128 * 1024 + 1, 300_000])
def test_incompressible_data_goes_in_raw_zstd_frames_any_zstd_reads(size):
    import zstandard

    from repository.crypto import raw_zstd_frame

    data = random.Random(size).randbytes(size)
    assert zstandard.ZstdDecompressor().decompress(raw_zstd_frame(data)) == data


def test_a_chunk_is_stored_raw_only_when_no_probe_of_it_compresses(key):
    from repository.crypto import NONCE_SIZE, Keys

    keys = Keys(key)
    noise, text = random.Random(1).randbytes(64 * 1024), b"record 0001\n" * 6000
    for data in (noise, text):
        sealed = keys.seal(data, b"chunk")
        assert keys.open(sealed, b"chunk") == data
    assert len(keys.seal(noise, b"c")) == NONCE_SIZE + 9 + 3 + len(noise) + 16, "header, one raw block, GCM tag"
    assert len(keys.seal(text, b"c")) < 1000


def test_a_read_limit_paces_the_chunks_and_holes_cost_nothing():
    from repository.chunking import throttled

    now, slept = [0.0], []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    chunks = [(0, b"x" * 1000), (1, None), (2, b"x" * 1000), (3, None), (4, b"x" * 1000)]
    assert list(throttled(iter(chunks), 1000, clock=lambda: now[0], sleep=sleep)) == chunks
    assert sum(slept) == 3.0, "three thousand bytes at a thousand a second; the holes were not waited for"
