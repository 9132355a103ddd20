"""Backup Now, scheduled backups and retention, with jobs on a real worker and real disk images."""

import datetime
import threading

import pytest
from django.utils import timezone

from jobs.choices import JobStatus
from jobs.models import Job
from sources.lab_workload import LabWorkload
from tests.conftest import (
    backup,
    disk_bytes,
    held_queue,
    protect,
    rewrite_manifest,
    wait_for_jobs,
)
from vaults.choices import Operation, ProtectionState
from vaults.errors import ErrorCode, Refused
from vaults.models import Policy, RecoveryPoint
from vaults.operations.backup import start_backup
from vaults.schedule import latest_slot, schedule_due_backups


def restored(vault, point, tmp_path):
    repo = vault.repository()
    images = []
    for index, _disk in enumerate(point.disks):
        out = tmp_path / f"{point.point_id}-{index}.raw"
        repo.restore_disk(point.point_id, index, out)
        images.append(out.read_bytes())
    return images


def test_backup_now_stores_a_recovery_point_that_restores_byte_for_byte(worker, vault, owner, tmp_path):
    item = protect(vault, owner, "web01")  # a qcow2 disk
    (job,) = backup(vault, owner, item)
    assert job.status == JobStatus.COMPLETED, job.error_detail or job.error_message
    assert [(s.name, s.status) for s in job.subtasks.all()] == [
        ("Take snapshot", JobStatus.COMPLETED), ("Transfer data to vault", JobStatus.COMPLETED),
        ("Apply retention", JobStatus.COMPLETED)]
    assert job.progress_done == job.progress_total > 0
    item.refresh_from_db()
    assert item.protection_state == ProtectionState.PROTECTED
    (point,) = RecoveryPoint.objects.filter(vm=item.vm)
    assert point.consistency == "application" and point.size == 2 * 1024 * 1024
    assert restored(vault, point, tmp_path) == [disk_bytes(d) for d in item.vm.disks]
    vault.refresh_from_db()
    assert vault.stored_bytes > 0


def test_the_next_backup_reads_only_what_the_workload_changed(worker, vault, owner, lab_path, tmp_path):
    item = protect(vault, owner, "app01", "contoso-app")  # a raw disk
    backup(vault, owner, item)
    first = RecoveryPoint.objects.get(vm=item.vm)
    first_bytes = restored(vault, first, tmp_path)
    LabWorkload(lab_path / item.vm.external_id, seed=4).write(count=5)
    (job,) = backup(vault, owner, item)
    assert job.status == JobStatus.COMPLETED
    newest = RecoveryPoint.objects.filter(vm=item.vm).first()
    assert newest.bytes_read <= 5 * 64 * 1024, "only the changed chunks were read"
    assert 0 < newest.new_bytes <= 5 * 64 * 1024
    assert restored(vault, newest, tmp_path) == [disk_bytes(d) for d in item.vm.disks] != first_bytes
    # Two Backup Now points of one day: each keeps its own 30 days, neither evicts the other.
    assert "Retention removed" not in job.result_message
    assert list(RecoveryPoint.objects.filter(vm=item.vm)) == [newest, first]
    assert sorted(vault.repository().point_ids()) == sorted([newest.point_id, first.point_id])
    assert first.slot is None and (first.retain_until - first.created_at).days == 30


def test_the_next_backup_of_a_qcow2_disk_reads_only_the_blocks_qemu_marked(worker, vault, owner, lab_path, tmp_path):
    item = protect(vault, owner, "web01", "contoso-web")  # a qcow2 disk
    backup(vault, owner, item)
    LabWorkload(lab_path / item.vm.external_id, seed=6).write(count=3)
    (job,) = backup(vault, owner, item)
    assert job.status == JobStatus.COMPLETED, job.error_detail or job.error_message
    newest = RecoveryPoint.objects.filter(vm=item.vm).first()
    assert 0 < newest.bytes_read <= 3 * 64 * 1024, "only the blocks in the dirty bitmap were read"
    assert restored(vault, newest, tmp_path) == [disk_bytes(d) for d in item.vm.disks]


def test_a_damaged_chunk_list_of_the_previous_point_means_a_full_read_not_a_failure(worker, vault, owner, lab_path,
                                                                                    tmp_path):
    item = protect(vault, owner, "app01", "contoso-app")  # a raw disk
    backup(vault, owner, item)
    first = RecoveryPoint.objects.get(vm=item.vm)
    repo = vault.repository()
    for list_id in repo.load_point(first.point_id)["disks"][0]["lists"]:
        repo.storage.delete(f"lists/{list_id}")
    LabWorkload(lab_path / item.vm.external_id, seed=7).write(count=3)
    (job,) = backup(vault, owner, item)
    assert job.status == JobStatus.COMPLETED, job.error_detail or job.error_message
    newest = RecoveryPoint.objects.filter(vm=item.vm).first()
    assert newest.bytes_read == newest.size, "read whole, since the old chunk list could not serve"
    assert restored(vault, newest, tmp_path) == [disk_bytes(d) for d in item.vm.disks]


def test_a_stopped_vm_fails_with_a_code_and_the_item_shows_an_error(worker, vault, owner):
    item = protect(vault, owner, "batch01")
    (job,) = backup(vault, owner, item)
    assert job.status == JobStatus.FAILED and job.error_code == ErrorCode.VM_NOT_RUNNING
    assert "Start the VM" in job.recommended_action
    item.refresh_from_db()
    assert item.protection_state == ProtectionState.ERROR
    assert not RecoveryPoint.objects.exists()


def test_without_the_extension_the_backup_completes_with_warnings(worker, vault, owner):
    item = protect(vault, owner, "legacy01")
    (job,) = backup(vault, owner, item)
    assert job.status == JobStatus.COMPLETED_WITH_WARNINGS
    assert job.error_code == ErrorCode.EXTENSION_MISSING
    assert RecoveryPoint.objects.get(vm=item.vm).consistency == "crash"


def test_an_extension_that_does_not_answer_fails_the_backup(worker, vault, owner, lab_path):
    item = protect(vault, owner, "web01")
    rewrite_manifest(lab_path / item.vm.external_id, extension_state="unresponsive")
    (job,) = backup(vault, owner, item)
    assert job.status == JobStatus.FAILED and job.error_code == ErrorCode.EXTENSION_NOT_ANSWERING


def test_backup_now_twice_starts_one_job(worker, vault, owner):
    item = protect(vault, owner, "web01")
    with held_queue(worker):
        jobs = start_backup(vault, [item.pk], owner)
        with pytest.raises(Refused, match="Another operation is in progress"):
            start_backup(vault, [item.pk], owner)
    wait_for_jobs(jobs, timeout=60)
    assert Job.objects.filter(operation=Operation.BACKUP).count() == 1


def test_two_scheduler_ticks_at_once_start_one_job_per_item(worker, vault, owner):
    items = [protect(vault, owner, "web01"), protect(vault, owner, "legacy01")]
    now = timezone.now()
    barrier = threading.Barrier(2)

    def tick():
        barrier.wait()
        schedule_due_backups(now)

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    schedule_due_backups(now)  # and a late third tick
    jobs = Job.objects.filter(operation=Operation.BACKUP)
    assert sorted(job.vm_id for job in jobs) == sorted(item.vm_id for item in items)
    assert len({job.scheduled_for for job in jobs}) == 1
    ended = wait_for_jobs(list(jobs), timeout=60)  # they were sent to the worker: let them end within this test
    for job in ended:  # legacy01 has no backup extension: crash consistent, with a warning
        assert job.succeeded, job.error_detail
        point = RecoveryPoint.objects.get(job=job)
        assert point.slot == job.scheduled_for and point.retain_until is None, "the policy's rules judge it"


def test_the_scheduler_skips_slots_before_protection_and_long_missed_ones(db, vault, owner):
    item = protect(vault, owner, "web01")
    now = timezone.now()
    slot = latest_slot(item.policy, now)
    item.protected_at = slot + datetime.timedelta(minutes=1)  # protected after the latest slot
    item.save()
    assert schedule_due_backups(now) == []
    item.protected_at = slot - datetime.timedelta(days=7)
    item.save()
    # A weekly policy whose only day was three days ago: that slot is missed by more than a day.
    policy = item.policy
    policy.frequency, policy.weekdays = "weekly", [(now - datetime.timedelta(days=3)).weekday()]
    policy.save()
    assert schedule_due_backups(now) == []
    policy.frequency, policy.weekdays = "daily", []
    policy.save()
    assert len(schedule_due_backups(now)) == 1


def test_the_latest_slot_follows_the_policy_time_zone_and_days():
    policy = Policy(frequency="daily", weekdays=[], time_of_day=datetime.time(22, 0), time_zone="Asia/Seoul")
    now = datetime.datetime(2026, 11, 25, 14, 0, tzinfo=datetime.timezone.utc)  # 23:00 in Seoul
    assert latest_slot(policy, now) == datetime.datetime(2026, 11, 25, 13, 0, tzinfo=datetime.timezone.utc)
    weekly = Policy(frequency="weekly", weekdays=[0], time_of_day=datetime.time(1, 0), time_zone="UTC")
    assert latest_slot(weekly, now) == datetime.datetime(2026, 11, 23, 1, 0, tzinfo=datetime.timezone.utc)


def test_a_vault_whose_storage_went_missing_is_not_made_anew(worker, vault, owner, tmp_path):
    import shutil
    from pathlib import Path

    item = protect(vault, owner, "web01")
    backup(vault, owner, item)
    shutil.move(vault.storage_location, tmp_path / "unmounted")
    (job,) = backup(vault, owner, item)
    assert job.status == JobStatus.FAILED and job.error_code == ErrorCode.STORAGE_UNAVAILABLE
    assert not Path(vault.storage_location).exists(), "no empty repository made in its place"
