"""The repository when things go wrong: the writer lock refreshed, stolen and given back, a pack
that cannot be stored, a file system without direct I/O, and an S3 server's errors in our words."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from botocore.config import Config

from repository import Repository, RepositoryLocked, S3Storage, StorageUnavailable
from repository.direct_io import ImageFile
from repository.storage import ObjectMissing
from tests.test_repository import backup, make_image

MiB = 1024 * 1024


def holder(repo, writer):
    return json.loads(repo.storage.read(writer.lock.name))


def wait_until(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.02)


@pytest.fixture
def quick_refresh(monkeypatch):
    monkeypatch.setattr("repository.lock.LOCK_REFRESH", 0.05)


def test_a_held_lock_is_refreshed_on_a_timer_and_removed_at_the_end(repo, quick_refresh):
    for exclusive in (False, True):
        with repo.writer(exclusive=exclusive) as writer:
            first = holder(repo, writer)["at"]
            wait_until(lambda: holder(repo, writer)["at"] > first)  # noqa: B023 - called inside the loop
            assert holder(repo, writer)["token"] == writer.token
        assert repo.storage.list("locks/") == []


def test_a_stolen_lock_is_noticed_and_the_thief_keeps_it(repo, quick_refresh):
    with pytest.raises(RepositoryLocked, match="taken by another process"):
        with repo.writer() as writer:
            repo.storage.write(writer.lock.name, json.dumps({**holder(repo, writer), "token": "thief"}).encode())
            wait_until(lambda: writer.lock.error is not None)
            writer.check_lock()
    assert holder(repo, writer)["token"] == "thief", "a writer removes only its own lock"


def test_the_lock_is_given_back_when_the_index_cannot_be_refreshed(tmp_path, repo, key):
    image = make_image(tmp_path / "disk.img")
    backup(repo, image)
    cache = tmp_path / "cache"
    cache.write_bytes(b"")  # a file where the index cache's folder belongs: the writer's refresh fails
    elsewhere = Repository.open(repo.storage, key, cache_dir=cache)
    with pytest.raises(FileExistsError), elsewhere.writer():
        pass
    assert repo.storage.list("locks/") == [], "a writer that could not start gives the lock back"


def test_a_pack_that_cannot_be_stored_fails_the_backup_and_writes_no_point(tmp_path, repo):
    image = make_image(tmp_path / "disk.img")
    (Path(repo.storage.location) / "packs").write_bytes(b"")  # packs/ is a file: no pack folder can be made
    with pytest.raises(NotADirectoryError):
        backup(repo, image)
    assert repo.point_ids() == [] and repo.storage.list("locks/") == []
    (Path(repo.storage.location) / "packs").unlink()
    point, _ = backup(repo, image)  # once the storage is right again, a backup just works
    out = tmp_path / "out.img"
    repo.restore_disk(point, 0, out)
    assert out.read_bytes() == image.read_bytes()


def test_a_restore_writes_through_the_cache_where_direct_io_is_refused(tmp_path, repo):
    image = make_image(tmp_path / "disk.img")
    point, _ = backup(repo, image)
    with ImageFile(tmp_path / "probe.img", MiB) as probe:
        assert probe.direct_works, "ext4 takes O_DIRECT: the direct path is the one tested here"
    os.unlink(probe.path)
    repo.restore_disk(point, 0, tmp_path / "direct.img")
    assert (tmp_path / "direct.img").read_bytes() == image.read_bytes()

    ramfs = tmp_path / "ramfs"  # ramfs refuses O_DIRECT: every block goes through the page cache
    ramfs.mkdir()
    mounted = subprocess.run(["mount", "-t", "ramfs", "ramfs", str(ramfs)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.fail(f"a ramfs is needed to check the fallback (run the tests as root): {mounted.stderr}")
    try:
        with ImageFile(ramfs / "probe.img", MiB) as probe:
            assert probe.direct is None and not probe.direct_works
        os.unlink(probe.path)
        repo.restore_disk(point, 0, ramfs / "cached.img")
        assert (ramfs / "cached.img").read_bytes() == image.read_bytes()
    finally:
        subprocess.run(["umount", str(ramfs)], check=True)


@pytest.fixture
def s3_options(s3_server):
    return {"endpoint_url": s3_server, "aws_access_key_id": "test", "aws_secret_access_key": "test",
            "region_name": "us-east-1"}


def test_s3_errors_are_said_in_the_repository_words(s3_options):
    import boto3

    boto3.client("s3", **s3_options).create_bucket(Bucket="errors")
    storage = S3Storage("errors", "vault", **s3_options)
    with pytest.raises(ObjectMissing):
        storage.read("points/nothing")
    assert not storage.exists("points/nothing")
    assert storage.create_exclusive("locks/writer", b"one") is True
    assert storage.create_exclusive("locks/writer", b"two") is False, "a condition refused is not an error"
    with pytest.raises(StorageUnavailable, match="NoSuchBucket"):
        S3Storage("no-such-bucket", **s3_options).write("config", b"{}")
    closed = {**s3_options, "endpoint_url": "http://127.0.0.1:9"}  # nothing listens on the discard port
    with pytest.raises(StorageUnavailable, match="Could not connect"):
        S3Storage("errors", "vault", **closed, config=Config(retries={"max_attempts": 1}, connect_timeout=1)).list("points/")
