"""Backups of one repository run side by side; prune holds it alone, waits for the backups, and keeps
new ones out meanwhile. Each writer here is its own Repository object, as each worker process has."""

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from repository import Repository, RepositoryLocked
from repository.chunking import file_chunks
from repository.lock import LOCK_NAME, SHARED_PREFIX
from tests.test_repository import make_image, scribble

MiB = 1024 * 1024


def wait_until(condition, timeout=30):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.02)


def another_process(repo, key, cache):
    """The same repository as another worker opens it: its own object, and its own index cache."""
    return Repository.open(repo.storage, key, cache_dir=cache)


def store(writer, image):
    return writer.store_disk("disk0", os.path.getsize(image), file_chunks(image, writer.repo.chunk_size))


def restored(repo, point, path):
    repo.restore_disk(point, 0, path)
    return path.read_bytes()


def test_two_backups_interleave_and_both_points_restore_byte_for_byte(tmp_path, repo, key):
    first_image = make_image(tmp_path / "a.img", seed=1)
    second_image = make_image(tmp_path / "b.img", seed=2)
    backup_a, backup_b = repo, another_process(repo, key, tmp_path / "cache-b")
    with backup_a.writer() as a, backup_b.writer() as b:
        disk_a = store(a, first_image)
        disk_b = store(b, second_image)  # while a holds its lock, with packs a stored in the index cache
        point_b = b.commit({"vm": {"name": "b"}, "consistency": "crash", "disks": [disk_b]})
        point_a = a.commit({"vm": {"name": "a"}, "consistency": "crash", "disks": [disk_a]})
    for reader in (repo, another_process(repo, key, tmp_path / "cache-c")):
        assert restored(reader, point_a, tmp_path / "a.out") == first_image.read_bytes()
        assert restored(reader, point_b, tmp_path / "b.out") == second_image.read_bytes()
        assert reader.verify().ok


def test_a_prune_waits_for_the_backups_and_keeps_new_ones_out_meanwhile(tmp_path, repo, key):
    image = make_image(tmp_path / "disk.img")
    with repo.writer() as writer:
        old = writer.commit({"vm": {"name": "vm"}, "consistency": "crash", "disks": [store(writer, image)]})
    scribble(image)
    pruner = another_process(repo, key, tmp_path / "cache-prune")
    repo.delete_point(old)  # retention forgot it: prune may free its chunks, but not those a running backup needs
    waited, pruned = [], []
    with repo.writer() as running:
        disk = store(running, image)
        thread = threading.Thread(target=lambda: pruned.append(pruner.prune(wait=60, on_wait=lambda: waited.append(1))))
        thread.start()
        wait_until(lambda: repo.storage.exists(LOCK_NAME) and waited)
        with pytest.raises(RepositoryLocked):
            with another_process(repo, key, tmp_path / "cache-new").writer():
                pass  # a backup that comes while the prune waits waits too
        assert not pruned, "the prune waits while a backup holds its lock"
        point = running.commit({"vm": {"name": "vm"}, "consistency": "crash", "disks": [disk]})
    thread.join(60)
    assert pruned and not thread.is_alive()
    assert restored(repo, point, tmp_path / "out.img") == image.read_bytes()
    assert repo.verify().ok and repo.storage.list("locks/") == []


def test_a_prune_gives_up_in_time_and_gives_its_lock_back(repo):
    with repo.writer():
        with pytest.raises(RepositoryLocked, match="being written by process"):
            repo.prune(wait=1)
        assert not repo.storage.exists(LOCK_NAME), "no backup is kept out by a prune that gave up"


def test_the_shared_lock_of_a_dead_backup_is_broken(repo):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    name = f"{SHARED_PREFIX}dead"
    repo.storage.write(name, json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout), "at": time.time(),
                                         "token": "dead"}).encode())
    repo.storage.write(f"{SHARED_PREFIX}garbled", b"\x00not json")  # judged by an age it does not have
    repo.prune()
    assert repo.storage.list("locks/") == []


def test_a_live_backup_on_another_host_is_waited_for(repo):
    alive = {"host": "another-host", "pid": 1, "at": time.time(), "token": "elsewhere"}
    repo.storage.write(f"{SHARED_PREFIX}elsewhere", json.dumps(alive).encode())
    with pytest.raises(RepositoryLocked, match="process 1 on another-host"):
        repo.prune(wait=0)
    assert repo.storage.exists(f"{SHARED_PREFIX}elsewhere"), "not ours to break"


def test_a_lock_unrefreshed_for_too_long_commits_nothing(tmp_path, repo):
    image = make_image(tmp_path / "disk.img")
    with pytest.raises(RepositoryLocked, match="lost before the recovery point"):
        with repo.writer() as writer:
            disk = store(writer, image)
            writer.lock.refreshed -= 24 * 3600  # a process frozen for a day: another may have judged it stale
            writer.commit({"vm": {"name": "vm"}, "consistency": "crash", "disks": [disk]})
    assert repo.point_ids() == []


class EchoingRepository(Repository):
    """A restore elsewhere records, just after this writer's refresh, a pack it had listed before a
    prune deleted it: the interleaving the writer must survive, made to happen every time."""

    echo = None

    def refresh_index(self):
        super().refresh_index()
        if self.echo:
            self.index.add_pack(*self.echo)


def test_a_pack_recorded_after_its_prune_is_never_built_on(tmp_path, repo, key):
    image = make_image(tmp_path / "disk.img")
    with repo.writer() as writer:
        point = writer.commit({"vm": {"name": "vm"}, "consistency": "crash", "disks": [store(writer, image)]})
    (pack,) = repo.index.pack_names()
    entries = [(chunk_id, 0, length) for chunk_id, length in repo.index.pack_chunks(pack)]
    repo.delete_point(point)
    repo.prune()
    assert repo.index.pack_names() == []
    echoing = EchoingRepository.open(repo.storage, key, cache_dir=tmp_path / "cache")
    echoing.echo = (pack, entries)
    with echoing.writer() as writer:
        again = writer.commit({"vm": {"name": "vm"}, "consistency": "crash", "disks": [store(writer, image)]})
    assert writer.stats.new_chunks == len(entries), "every chunk stored anew, none taken from the pruned pack"
    assert restored(repo, again, tmp_path / "out.img") == image.read_bytes()


class BackupDuringVerify(Repository):
    """A backup on another worker commits a point just after this verify has read the index."""

    backup = None

    def refresh_index(self):
        super().refresh_index()
        backup, self.backup = self.backup, None
        if backup:
            backup()


def test_a_point_committed_while_verify_runs_is_not_taken_for_damage(tmp_path, repo, key):
    first_image, second_image = make_image(tmp_path / "a.img", seed=1), make_image(tmp_path / "b.img", seed=2)
    with repo.writer() as writer:
        writer.commit({"vm": {"name": "a"}, "consistency": "crash", "disks": [store(writer, first_image)]})
    other = another_process(repo, key, tmp_path / "cache-backup")

    def backup():
        with other.writer() as writer:
            writer.commit({"vm": {"name": "b"}, "consistency": "crash", "disks": [store(writer, second_image)]})

    verifying = BackupDuringVerify.open(repo.storage, key, cache_dir=tmp_path / "cache-verify")
    verifying.backup = backup
    report = verifying.verify()
    assert report.ok, report.damaged_objects
    assert len(repo.point_ids()) == 2 and repo.storage.list("damaged/") == [], "no damage written down"
