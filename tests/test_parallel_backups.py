"""Backups of one vault on two workers run at the same time, and both points restore byte for byte;
a prune started meanwhile waits until both are written."""

import hashlib
import os
import threading
import time

import pytest

from jobs.choices import JobStatus
from jobs.models import Job
from portal.celery import app
from tests.conftest import protect, start_worker_process, wait_for_jobs
from vaults.choices import Operation
from vaults.models import RecoveryPoint

QUEUE = "parallel-test"
MiB = 1024 * 1024
DISK = 128 * MiB  # incompressible, read at READ_LIMIT: two seconds each, long enough to be seen side by side
READ_LIMIT = 64  # MB/s, on both workers


@pytest.fixture
def second_worker(worker, settings):
    settings.BACKUP_READ_LIMIT_MB_S = READ_LIMIT  # the suite's worker runs in this process
    process = start_worker_process(QUEUE, "parallel", read_limit_mb_s=READ_LIMIT)
    try:
        yield process
    finally:
        process.terminate()
        process.wait(30)


def big_disk(item):
    """Fill the item's disk with random bytes; their digest."""
    disk = item.vm.disks[0]
    digest = hashlib.sha256()
    with open(disk["path"], "wb") as image:
        for _ in range(DISK // MiB):
            data = os.urandom(MiB)
            image.write(data)
            digest.update(data)
    item.vm.disks = [{**disk, "virtual_size": DISK}]
    item.vm.save()
    return digest.hexdigest()


def digest_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as restored:
        while block := restored.read(4 * MiB):
            digest.update(block)
    return digest.hexdigest()


def both_transferring(jobs, timeout=120):
    """Wait until both jobs have stored part, but not all, of their disks at the same moment."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fresh = list(Job.objects.filter(pk__in=[job.pk for job in jobs]))
        if all(0 < job.progress_done < job.progress_total for job in fresh):
            return
        assert all(job.status in JobStatus.active() for job in fresh), \
            f"a backup ended before the other began transferring: {[(j.pk, j.status, j.progress_message) for j in fresh]}"
        time.sleep(0.05)
    raise AssertionError("the two backups never transferred at the same time")


def test_two_backups_of_one_vault_overlap_and_a_prune_waits_for_both(second_worker, vault, owner, tmp_path):
    items = [protect(vault, owner, "app01", service) for service in ("contoso-app", "fabrikam-app")]
    expected = {item.vm_id: big_disk(item) for item in items}
    jobs = [Job.objects.create_queued(vault=vault, vm=item.vm, entity_name=str(item.vm), operation=Operation.BACKUP)
            for item in items]
    app.send_task("vaults.tasks.backup", args=[jobs[0].pk])  # the suite's in-process worker
    app.send_task("vaults.tasks.backup", args=[jobs[1].pk], queue=QUEUE)
    both_transferring(jobs)

    repo = vault.repository()
    pruned = []
    pruner = threading.Thread(target=lambda: pruned.append(repo.prune(wait=300)))
    pruner.start()
    pruner.join(300)
    assert pruned, "the prune ended"
    assert len(repo.point_ids()) == 2, "the prune got the repository only once both backups had written their points"

    for job in wait_for_jobs(jobs, timeout=120):
        assert job.status == JobStatus.COMPLETED, job.error_detail or job.error_message
    for point in RecoveryPoint.objects.filter(vault=vault):
        out = tmp_path / f"restored-{point.pk}.img"
        vault.repository().restore_disk(point.point_id, 0, out)
        assert digest_of(out) == expected[point.vm_id], "restored byte for byte"
    assert vault.repository().verify().ok
