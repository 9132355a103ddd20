"""Every job can be cancelled: a queued one ends at once and its item goes back; a running backup,
restore, verify or prune stops at its next step and leaves nothing half-made: no recovery point, no
half-restored VM, no point said verified, every point restorable and the repository verifying clean."""

import contextlib
import os
import threading
import time

from jobs.choices import JobStatus
from jobs.models import Job
from jobs.runner import Progress
from sources.lab import LabSource
from tests.conftest import backup, disk_bytes, held_queue, protect, wait_for_jobs
from tests.factories import RegisteredItemFactory
from tests.test_backups import restored
from vaults.choices import Operation, ProtectionState
from vaults.models import RecoveryPoint
from vaults.operations.backup import start_backup
from vaults.operations.discovery import start_discovery
from vaults.operations.protection import start_protection
from vaults.operations.prune import start_prune
from vaults.operations.restore import start_restore
from vaults.operations.verify import start_verify

MiB = 1024 * 1024


def test_a_queued_job_is_cancelled_at_once_and_its_item_goes_back(worker, vault, owner, owner_client):
    item = RegisteredItemFactory(vault=vault)
    with held_queue(worker):
        (job,) = start_protection(vault, [item.pk], owner, policy=vault.policies.get())
        item.refresh_from_db()
        assert item.protection_state == ProtectionState.CONFIGURING
        response = owner_client.post(f"/vaults/{vault.pk}/jobs/{job.pk}/cancel/")
        assert response.status_code == 200 and "Cancelled" in response.content.decode()
    job.refresh_from_db()
    item.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and "Cancelled by a user" in job.result_message
    assert item.protection_state == ProtectionState.NOT_PROTECTED and item.policy is None
    # The worker now takes the cancelled job's message: one queue, one worker, in order, so once a job
    # sent after it has ended, the worker has handled it.
    wait_for_jobs([start_discovery(vault, owner)])
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and not job.started_at
    again = owner_client.post(f"/vaults/{vault.pk}/jobs/{job.pk}/cancel/")
    assert again.status_code == 409, "an ended job stays as it ended"


def test_a_running_backup_stops_and_keeps_nothing(worker, vault, owner, owner_client, lab_path):
    item = protect(vault, owner, "app01", "contoso-app")
    disk = item.vm.disks[0]
    with open(disk["path"], "wb") as image:  # big enough to be cancelled while it transfers
        for _ in range(384):
            image.write(os.urandom(MiB))
    item.vm.disks = [{**disk, "virtual_size": 384 * MiB}]
    item.vm.save()
    (job,) = start_backup(vault, [item.pk], owner)
    deadline = time.monotonic() + 60
    while not Job.objects.filter(pk=job.pk, progress_done__gte=8 * MiB).exists():
        assert time.monotonic() < deadline, "the backup did not get going"
        time.sleep(0.05)
    response = owner_client.post(f"/vaults/{vault.pk}/jobs/{job.pk}/cancel/")
    assert response.status_code == 200 and "Cancelling" in response.content.decode()
    (job,) = wait_for_jobs([job], timeout=60)
    assert job.status == JobStatus.CANCELLED, (job.status, job.error_detail, job.traceback)
    assert [event.new_status for event in job.events.all()][-2:] == [JobStatus.CANCELLING, JobStatus.CANCELLED]
    assert job.progress_done < 384 * MiB, "it stopped before the end"
    assert not RecoveryPoint.objects.filter(vm=item.vm).exists()
    repo = vault.repository()
    assert repo.point_ids() == [] and repo.verify().ok
    item.refresh_from_db()
    assert item.protection_state == ProtectionState.PENDING, "a cancelled backup leaves the item as it was"
    # What it stored is built on by the next backup, not lost.
    (again,) = wait_for_jobs(start_backup(vault, [item.pk], owner), timeout=120)
    assert again.status == JobStatus.COMPLETED and RecoveryPoint.objects.filter(vm=item.vm).count() == 1


def test_the_jobs_tab_offers_cancel_only_for_jobs_that_can_be(owner_client, vault, reader):
    from tests.conftest import client_for
    from tests.factories import JobFactory

    running = JobFactory(vault=vault, operation=Operation.VERIFY, status=JobStatus.IN_PROGRESS)
    JobFactory(vault=vault, status=JobStatus.COMPLETED)
    html = owner_client.get(f"/vaults/{vault.pk}/jobs/").content.decode()
    assert html.count("/cancel/") == 1 and f"/jobs/{running.pk}/cancel/" in html
    assert "/cancel/" not in client_for(reader).get(f"/vaults/{vault.pk}/jobs/").content.decode()
    assert client_for(reader).post(f"/vaults/{vault.pk}/jobs/{running.pk}/cancel/").status_code == 403


@contextlib.contextmanager
def paused_at_first_progress(monkeypatch):
    """The worker (a thread of this process) pauses at its job's first progress report until the
    block's cancel is asked; the report then goes on and sees it. A barrier, not a race: the job is
    In progress, mid-work, when the cancel arrives."""
    reached, go = threading.Event(), threading.Event()
    advance = Progress.advance

    def paused(progress, amount):
        if not reached.is_set():
            reached.set()
            go.wait(30)
        return advance(progress, amount)

    monkeypatch.setattr(Progress, "advance", paused)
    try:
        yield reached
    finally:
        go.set()


def cancel_when_paused(client, vault, job, reached):
    assert reached.wait(60), "the job did not get going"
    response = client.post(f"/vaults/{vault.pk}/jobs/{job.pk}/cancel/")
    assert response.status_code == 200 and "Cancelling" in response.content.decode()


def assert_cancelled(job):
    (job,) = wait_for_jobs([job], timeout=60)
    assert job.status == JobStatus.CANCELLED, (job.status, job.error_detail, job.traceback)
    assert [event.new_status for event in job.events.all()][-2:] == [JobStatus.CANCELLING, JobStatus.CANCELLED]
    assert job.progress_done < job.progress_total, "it stopped before the end"
    return job


def test_a_running_restore_stops_and_creates_no_vm(worker, vault, owner, owner_client, lab_path, monkeypatch,
                                                    settings):
    item = protect(vault, owner, "web01")
    backup(vault, owner, item)
    point = RecoveryPoint.objects.get(vm=item.vm)
    before = [vm.name for vm in LabSource(lab_path).inventory().vms]
    with paused_at_first_progress(monkeypatch) as reached:
        job = start_restore(vault, point, owner, mode="new_vm", name="web01-copy", cloud_service="svc")
        cancel_when_paused(owner_client, vault, job, reached)
    assert_cancelled(job)
    assert [vm.name for vm in LabSource(lab_path).inventory().vms] == before, "no half-restored VM"
    assert not any(settings.WORK_ROOT.rglob("*.raw")), "its work files are gone"


def test_a_running_verify_stops_and_records_nothing(worker, vault, owner, owner_client, monkeypatch):
    item = protect(vault, owner, "web01")
    backup(vault, owner, item)
    with paused_at_first_progress(monkeypatch) as reached:
        job = start_verify(vault, owner)
        cancel_when_paused(owner_client, vault, job, reached)
    assert_cancelled(job)
    assert RecoveryPoint.objects.get(vm=item.vm).verified_at is None, "no point is said to be verified"
    (again,) = wait_for_jobs([start_verify(vault, owner)], timeout=60)
    assert again.status == JobStatus.COMPLETED, "the next one runs whole"


def test_a_running_prune_stops_between_packs_and_every_point_restores(worker, vault, owner, owner_client,
                                                                       monkeypatch, tmp_path):
    kept = protect(vault, owner, "web01")
    forgotten = [protect(vault, owner, "app01", service) for service in ("contoso-app", "fabrikam-app")]
    for item in (kept, *forgotten):
        backup(vault, owner, item)  # a job each: a pack each
    repo = vault.repository()
    for point in RecoveryPoint.objects.filter(vm__in=[item.vm for item in forgotten]):
        point.delete()  # as retention forgets: the row, then the manifest
        repo.delete_point(point.point_id)
    stored = repo.stored_bytes()
    with paused_at_first_progress(monkeypatch) as reached:
        job = start_prune(vault, owner)
        cancel_when_paused(owner_client, vault, job, reached)
    assert_cancelled(job)
    repo = vault.repository()
    between = repo.stored_bytes()
    assert between < stored, "it had freed one pack when it stopped"
    assert repo.verify().ok
    point = RecoveryPoint.objects.get(vm=kept.vm)
    assert restored(vault, point, tmp_path) == [disk_bytes(disk) for disk in kept.vm.disks]
    vault.refresh_from_db()
    assert vault.stored_bytes == between, "the running total counts what is stored now"
    (again,) = wait_for_jobs([start_prune(vault, owner)], timeout=60)
    assert again.status == JobStatus.COMPLETED and vault.repository().stored_bytes() < between
