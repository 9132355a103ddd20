"""A worker killed with SIGKILL in the middle of a backup: the job fails clearly, the repository
stays clean with no half recovery point, and the next backup reuses the chunks already stored."""

import os
import signal
import time

import pytest
from django.conf import settings
from django.utils import timezone

from jobs.choices import JobStatus
from jobs.errors import CoreCode
from jobs.models import Job
from jobs.reaper import reap_stale_jobs
from jobs.runner import run_job
from portal.celery import app
from sources.lab_in_place import PREFIX
from tests.conftest import protect, start_worker_process
from vaults.choices import Operation, ProtectionState
from vaults.models import RecoveryPoint
from vaults.operations.backup import backup as backup_job

QUEUE = "crash-test"
MiB = 1024 * 1024


@pytest.fixture
def crash_worker(transactional_db, tmp_path):
    process = start_worker_process(QUEUE, "crash", read_limit_mb_s=128)  # 3 s to read its disk: time to kill it
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_sigkill_in_the_middle_of_a_backup(crash_worker, vault, owner, lab_path):
    item = protect(vault, owner, "app01", "contoso-app")
    # Make the disk big and incompressible, so the transfer takes long enough to be interrupted.
    disk = item.vm.disks[0]
    with open(disk["path"], "wb") as image:
        for _ in range(384):
            image.write(os.urandom(MiB))
    item.vm.disks = [{**disk, "virtual_size": 384 * MiB}]
    item.vm.save()

    # The job goes to the crash-test worker's own queue (the suite's in-process worker serves the default one).
    job = Job.objects.create(vault=vault, vm=item.vm, entity_name=str(item.vm), operation=Operation.BACKUP)
    app.send_task("vaults.tasks.backup", args=[job.pk], queue=QUEUE)
    deadline = time.monotonic() + 60
    while True:
        job.refresh_from_db()
        transferring = job.subtasks.filter(name="Transfer data to vault", status=JobStatus.IN_PROGRESS).exists()
        if transferring and 48 * MiB < job.progress_done < job.progress_total:  # a few packs in
            break
        assert job.status in JobStatus.active(), f"the backup ended before it could be interrupted: {job.status}"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(crash_worker.pid, signal.SIGKILL)
    crash_worker.wait()
    work = settings.WORK_ROOT / f"job-{job.pk}"
    assert work.exists(), "the killed worker left its work folder behind"
    vm_folder = lab_path / item.vm.external_id
    left = [path.name for path in vm_folder.iterdir() if path.name.startswith(PREFIX)]
    assert left, "and the snapshot it was reading in place"

    # The reaper notices the silent job and fails it with a clear message.
    reap_stale_jobs(timezone.now() + settings.JOB_HEARTBEAT_TIMEOUT + timezone.timedelta(seconds=1))
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_code == CoreCode.WORKER_LOST
    assert "stopped answering" in job.error_message and job.recommended_action
    item.refresh_from_db()
    assert item.protection_state == ProtectionState.ERROR
    assert not work.exists(), "the reaper swept the copy of the customer's disk"

    repo = vault.repository()
    assert repo.point_ids() == [] and not RecoveryPoint.objects.exists(), "no half recovery point"
    assert repo.verify().ok
    stored_before = repo.stored_bytes()
    assert repo.index.pack_names(), f"the packs written before the crash are there ({stored_before} bytes)"

    # The next backup (here run in this process) breaks the dead worker's lock and reuses those chunks.
    retry = Job.objects.create_queued(vault=vault, vm=item.vm, entity_name=str(item.vm), operation=Operation.BACKUP)
    run_job(retry.pk, backup_job, atomic=False)
    retry.refresh_from_db()
    assert retry.status == JobStatus.COMPLETED, retry.error_detail or retry.error_message
    point = RecoveryPoint.objects.get(vm=item.vm)
    assert point.bytes_read == 384 * MiB
    assert point.new_bytes < point.bytes_read, "chunks stored before the crash were reused"
    assert vault.repository().verify().ok
    assert not [path for path in vm_folder.iterdir() if path.name.startswith(PREFIX)], \
        "the next snapshot removed what the dead one left, and let go of its own"


def test_a_starting_worker_sweeps_the_work_files_of_ended_jobs(transactional_db, vault, owner):
    ended = Job.objects.create(vault=vault, entity_name="x", operation=Operation.BACKUP, status=JobStatus.FAILED)
    running = Job.objects.create(vault=vault, entity_name="y", operation=Operation.RESTORE, status=JobStatus.IN_PROGRESS)
    for job in (ended, running):
        (settings.WORK_ROOT / f"job-{job.pk}").mkdir(parents=True)
        (settings.WORK_ROOT / f"job-{job.pk}" / "0.raw").write_bytes(b"a customer's disk, in the clear")
    process = start_worker_process(QUEUE, "crash")
    try:
        deadline = time.monotonic() + 30
        while (settings.WORK_ROOT / f"job-{ended.pk}").exists():
            assert time.monotonic() < deadline, "the worker did not sweep at start"
            time.sleep(0.05)
        assert (settings.WORK_ROOT / f"job-{running.pk}" / "0.raw").exists(), "a running job keeps its files"
    finally:
        process.kill()
        process.wait()
