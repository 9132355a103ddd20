"""Workers killed, the broker restarted, two workers racing: every job ends, nothing is lost."""

import datetime
import os
import signal
import time

import pytest
from django.conf import settings
from django.utils import timezone

from jobs.choices import JobStatus
from jobs.errors import CoreCode
from jobs.models import MESSAGE_RESENT, Job, JobEvent
from jobs.reaper import reap_stale_jobs, resend_lost_jobs
from portal.celery import app
from tests.conftest import protect
from tests.faults.conftest import (
    MiB,
    assert_all_is_well,
    make_disk_big,
    wait_for_progress,
    wait_for_terminal,
    wait_until,
)
from vaults.choices import ProtectionState
from vaults.models import RecoveryPoint
from vaults.operations.backup import start_backup
from vaults.operations.protection import start_stop_protection


def test_a_pool_process_killed_mid_backup_ends_its_job_worker_lost(workers, vault, owner, tmp_path, settings):
    worker = workers.start(concurrency=1)
    item = protect(vault, owner, "app01", "contoso-app")
    make_disk_big(item, 256)
    (job,) = start_backup(vault, [item.pk], owner)
    wait_for_progress(job, 32 * MiB)
    (child,) = workers.pool_children(worker)
    os.kill(child, signal.SIGKILL)  # the OOM killer, say: the pool process dies, its master lives
    (job,) = wait_for_terminal([job], timeout=60)
    assert job.status == JobStatus.FAILED and job.error_code == CoreCode.WORKER_LOST, job.traceback
    assert "stopped answering" in job.error_message and not job.traceback
    assert not job.subtasks.filter(status=JobStatus.IN_PROGRESS).exists(), "its running sub-task failed too"
    assert job.subtasks.get(name="Transfer data to vault").status == JobStatus.FAILED
    assert worker.poll() is None, "the worker itself lives on"

    # The same worker backs up again, reusing what the killed one stored.
    (again,) = start_backup(vault, [item.pk], owner)
    (again,) = wait_for_terminal([again], timeout=120)
    assert again.status == JobStatus.COMPLETED, again.error_detail or again.traceback
    assert RecoveryPoint.objects.get(vm=item.vm).new_bytes < 256 * MiB
    assert_all_is_well(vault, tmp_path)


def test_redis_restarted_while_the_worker_holds_messages(broker, workers, vault, owner, lab_path, tmp_path):
    worker = workers.start(concurrency=1)
    items = [protect(vault, owner, name, service) for name, service in
             [("app01", "contoso-app"), ("app01", "fabrikam-app"), ("web01", None), ("legacy01", None)]]
    make_disk_big(items[0], 192)
    jobs = start_backup(vault, [item.pk for item in items], owner)
    wait_for_progress(jobs[0], 16 * MiB)  # one runs; the others wait in Redis or reserved by the worker
    broker.stop()
    broker.start()  # a Redis that keeps nothing: the queue and the reserved messages are gone

    ticks = []

    def reaper_as_beat_runs_it():
        # Beat ticks the reaper (every 30 s; here every 3 s, its clock two minutes on, so that the lost
        # messages count as lost).
        if not ticks or time.monotonic() - ticks[-1] > 3:
            ticks.append(time.monotonic())
            resend_lost_jobs(timezone.now() + datetime.timedelta(minutes=2))

    ended = wait_for_terminal(jobs, timeout=180, while_waiting=reaper_as_beat_runs_it)
    assert worker.poll() is None, "the worker survived the restart: " + workers.log("w1")[-3000:]
    assert "Unrecoverable error" not in workers.log("w1")
    for job in ended:
        assert job.status in (JobStatus.COMPLETED, JobStatus.COMPLETED_WITH_WARNINGS), (job, job.error_detail)
    assert RecoveryPoint.objects.filter(vault=vault).count() == len(items)
    resent = JobEvent.objects.filter(job__in=jobs, note=MESSAGE_RESENT).count()
    assert resent >= 2, "the restart lost the queued messages, and the reaper sent them again"
    assert_all_is_well(vault, tmp_path)


def test_a_stalled_backup_failed_by_the_reaper_leaves_nothing_when_it_wakes(workers, vault, owner, tmp_path):
    """The worker stalls (SIGSTOP) past the heartbeat timeout, the reaper fails its backup, the operator
    stops protection; when the backup wakes it finishes its transfer but records no point, leaves the
    item stopped and takes its manifest out of the repository again."""
    worker = workers.start(name="w1", concurrency=1)
    item = protect(vault, owner, "app01", "contoso-app")
    make_disk_big(item, 128)
    (job,) = start_backup(vault, [item.pk], owner)
    wait_for_progress(job, 16 * MiB)
    (child,) = workers.pool_children(worker)
    os.kill(child, signal.SIGSTOP)
    try:
        reap_stale_jobs(timezone.now() + settings.JOB_HEARTBEAT_TIMEOUT + datetime.timedelta(seconds=1))
        job.refresh_from_db()
        assert job.status == JobStatus.FAILED and job.error_code == CoreCode.WORKER_LOST
        # The operator's Stop Protection runs on another worker: the stalled one's master (alive, its
        # pool child stopped) takes no more messages, or it would hold this one for its child.
        app.control.cancel_consumer("celery", destination=[workers.full_name(worker)], reply=True)
        workers.start(name="w2")
        (stop,) = wait_for_terminal(start_stop_protection(vault, [item.pk], owner), timeout=60)
        assert stop.status == JobStatus.COMPLETED, stop.error_message
    finally:
        os.kill(child, signal.SIGCONT)
    wait_until(lambda: f"Job {job.pk} was ended" in workers.log("w1"), 120,
               "the stalled backup did not reach its last commit:\n" + workers.log("w1")[-3000:])
    job.refresh_from_db()
    item.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_code == CoreCode.WORKER_LOST, "its failure stands"
    assert item.protection_state == ProtectionState.STOPPED and item.policy is None
    assert not RecoveryPoint.objects.filter(vm=item.vm).exists()
    assert not [point for point in vault.repository().points() if point["vm"]["id"] == item.vm.external_id]
    assert item.vm.state_changes.filter(new=ProtectionState.PROTECTED).count() == 0
    assert_all_is_well(vault, tmp_path)


@pytest.mark.slow
def test_a_whole_worker_killed_is_failed_by_the_reaper_and_its_files_swept(workers, vault, owner, tmp_path,
                                                                          settings):
    worker = workers.start(concurrency=1)
    item = protect(vault, owner, "app01", "contoso-app")
    make_disk_big(item, 256)
    (job,) = start_backup(vault, [item.pk], owner)
    wait_for_progress(job, 32 * MiB)
    os.killpg(worker.pid, signal.SIGKILL)  # master and pool: nobody is left to tell
    worker.wait()
    job.refresh_from_db()
    assert job.status == JobStatus.IN_PROGRESS
    work = settings.WORK_ROOT / f"job-{job.pk}"
    assert work.exists()
    # Beat's reaper, once the heartbeat is older than the timeout (60 s: within 90 s with its 30 s tick).
    reap_stale_jobs(timezone.now() + settings.JOB_HEARTBEAT_TIMEOUT + datetime.timedelta(seconds=1))
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_code == CoreCode.WORKER_LOST
    assert job.subtasks.get(name="Transfer data to vault").status == JobStatus.FAILED
    assert not work.exists()
    workers.start(name="w2")
    (again,) = wait_for_terminal(start_backup(vault, [item.pk], owner), timeout=120)
    assert again.status == JobStatus.COMPLETED, again.error_detail
    assert_all_is_well(vault, tmp_path)


@pytest.mark.slow
def test_two_workers_racing_on_one_item_run_its_job_once(workers, vault, owner, tmp_path):
    workers.start(name="w1", concurrency=2)
    workers.start(name="w2", concurrency=2)
    item = protect(vault, owner, "app01", "contoso-app")
    (job,) = start_backup(vault, [item.pk], owner)
    for _ in range(3):  # the same message delivered again and again, to whichever worker takes it
        app.send_task("vaults.tasks.backup", args=[job.pk])
    (job,) = wait_for_terminal([job], timeout=120)
    assert job.status == JobStatus.COMPLETED
    assert job.events.filter(new_status=JobStatus.IN_PROGRESS).count() == 1, "it ran once"
    assert RecoveryPoint.objects.filter(vm=item.vm).count() == 1
    with pytest.raises(Exception, match="in progress|Another operation"):
        # Two Backup Now at once for one item while its job runs: the database keeps one job.
        Job.objects.filter(pk=job.pk).update(status=JobStatus.IN_PROGRESS)
        start_backup(vault, [item.pk], owner)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.COMPLETED)
    assert_all_is_well(vault, tmp_path)
