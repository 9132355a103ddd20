"""Every error code a job can end with ends a real job: each has a scenario here (the lab injects the
failure, or the portal's own state gives it) or a named test elsewhere that does it, and a new code
left without one fails test_every_code_ends_a_real_job_somewhere."""

import fcntl
import shutil
from pathlib import Path

import pytest

from jobs.choices import JobStatus
from jobs.errors import CATALOGUE, CoreCode
from jobs.models import Job
from sources.lab_folder import IO_LOCK
from tests.conftest import backup, protect, rewrite_manifest, wait_for_jobs
from vaults.choices import Operation, ProtectionState
from vaults.errors import ErrorCode
from vaults.models import RecoveryPoint, RegisteredItem

TESTS = Path(__file__).parent

# Codes whose real failure is made elsewhere: the test that ends a job with it (and checks the code).
ELSEWHERE = {
    CoreCode.WORKER_LOST: "test_worker_crash.py::test_sigkill_in_the_middle_of_a_backup",
    CoreCode.QUEUE_TIMEOUT: "test_jobs.py::test_reaper_fails_queued_jobs_no_worker_picked_up",
    CoreCode.BROKER_UNAVAILABLE: "test_jobs.py::test_a_job_the_broker_refuses_ends_failed",
    CoreCode.DATABASE_UNAVAILABLE: "faults/test_database.py::test_postgresql_restarted_mid_backup",
    ErrorCode.POLICY_NOT_FOUND: "test_states.py::test_configure_protection_whose_policy_changed_fails_and_rolls_back",
    ErrorCode.VM_NOT_RUNNING: "test_backups.py::test_a_stopped_vm_fails_with_a_code_and_the_item_shows_an_error",
    ErrorCode.EXTENSION_NOT_ANSWERING: "test_backups.py::test_an_extension_that_does_not_answer_fails_the_backup",
    ErrorCode.EXTENSION_MISSING: "test_backups.py::test_without_the_extension_the_backup_completes_with_warnings",
    ErrorCode.STORAGE_UNAVAILABLE: "test_backups.py::test_a_vault_whose_storage_went_missing_is_not_made_anew",
    ErrorCode.DAMAGED_DATA: "test_restore.py::test_verify_from_the_dashboard_names_the_affected_recovery_points",
    ErrorCode.RESTORE_MISMATCH: "test_restore.py::test_a_restored_disk_that_reads_back_different_fails_restore_mismatch",
    ErrorCode.DISK_REFUSED: "test_trust_backups.py::test_a_disk_made_hostile_after_discovery_fails_its_backup_and_nothing_is_stored",
    ErrorCode.KEY_UNAVAILABLE: "test_secrets.py::test_without_its_key_encryption_key_a_backup_fails_with_a_clear_code",
    ErrorCode.VM_RUNNING: "test_restore.py::test_a_running_vm_whose_writes_cannot_pause_keeps_its_disks",
    ErrorCode.VM_NAME_TAKEN: "test_restore.py::test_a_new_vm_name_taken_since_discovery_fails_and_creates_nothing",
    ErrorCode.PROTECTION_NOT_STOPPED: "test_states.py::test_deleting_the_data_of_a_protected_item_says_why_it_is_refused",
    ErrorCode.VAULT_IMMUTABLE: "test_soft_delete.py::test_a_vault_made_immutable_after_the_job_was_queued_still_refuses",
}


def queued(vault, operation, item=None, **parameters):
    """A job as the portal makes one, sent to the worker; for states the commands would refuse to start from."""
    job = Job.objects.create_queued(vault=vault, vm=item.vm if item else None, operation=operation,
                                    entity_name=str(item.vm) if item else vault.name, parameters=parameters)
    job.enqueue()
    return wait_for_jobs([job], timeout=60)[0]


def scenario_source_unavailable(vault, owner, lab_path):
    item = protect(vault, owner, "web01")
    lab_path.rename(lab_path.with_name("unmounted"))  # the source's folder (or host) is gone
    try:
        (job,) = backup(vault, owner, item)
    finally:
        lab_path.with_name("unmounted").rename(lab_path)
    return job


def scenario_vm_not_found(vault, owner, lab_path):
    item = protect(vault, owner, "web01")
    shutil.rmtree(lab_path / item.vm.external_id)  # deleted in its source since discovery
    (job,) = backup(vault, owner, item)
    return job


def scenario_item_not_registered(vault, owner, lab_path):
    item = protect(vault, owner, "web01")
    item.delete()  # unregistered after its backup was asked for
    return queued(vault, Operation.BACKUP, item)


def scenario_freeze_failed(vault, owner, lab_path):
    item = protect(vault, owner, "web01")
    rewrite_manifest(lab_path / item.vm.external_id, extension_state="freeze_fails")
    (job,) = backup(vault, owner, item)
    assert job.status == JobStatus.COMPLETED_WITH_WARNINGS
    return job


def scenario_snapshot_timeout(vault, owner, lab_path):
    item = protect(vault, owner, "web01")
    folder = lab_path / item.vm.external_id
    rewrite_manifest(folder, freeze_timeout=0.3)
    # A write in flight that never ends: the lab workload holds the I/O lock shared for each write.
    with open(folder / IO_LOCK, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        (job,) = backup(vault, owner, item)
    assert not RecoveryPoint.objects.filter(vm=item.vm).exists()
    return job


def scenario_recovery_point_not_found(vault, owner, lab_path):
    item = protect(vault, owner, "web01")
    backup(vault, owner, item)
    point = RecoveryPoint.objects.get(vm=item.vm)
    vault.repository().delete_point(point.point_id)  # its manifest lost from the storage
    return queued(vault, Operation.RESTORE, item, point=point.pk, mode="new_vm", name="copy", cloud_service="svc")


def scenario_item_not_protected(vault, owner, lab_path):
    item = protect(vault, owner, "web01")
    RegisteredItem.objects.filter(pk=item.pk).update(protection_state=ProtectionState.NOT_PROTECTED)
    return queued(vault, Operation.BACKUP, item)


def scenario_item_state_changed(vault, owner, lab_path):
    item = protect(vault, owner, "web01")
    # Another Stop Protection ended it meanwhile (a worker that had stalled, say).
    RegisteredItem.objects.filter(pk=item.pk).update(protection_state=ProtectionState.STOPPED, policy=None)
    return queued(vault, Operation.STOP_PROTECTION, item)


def scenario_backup_data_kept(vault, owner, lab_path):
    item = protect(vault, owner, "web01")
    backup(vault, owner, item)
    RegisteredItem.objects.filter(pk=item.pk).update(protection_state=ProtectionState.STOPPED, policy=None)
    job = queued(vault, Operation.UNREGISTER, item)
    assert RegisteredItem.objects.filter(pk=item.pk).exists(), "the VM stays, with its data"
    return job


def scenario_internal_error(vault, owner, lab_path):
    item = protect(vault, owner, "web01")
    backup(vault, owner, item)
    point = RecoveryPoint.objects.get(vm=item.vm)
    job = queued(vault, Operation.RESTORE, item, point=point.pk)  # a job row no command makes: no mode
    assert "Traceback" in job.traceback
    return job


HERE = {
    ErrorCode.SOURCE_UNAVAILABLE: scenario_source_unavailable,
    ErrorCode.VM_NOT_FOUND: scenario_vm_not_found,
    ErrorCode.SOURCE_UNAVAILABLE: scenario_source_unavailable,
    ErrorCode.VM_NOT_FOUND: scenario_vm_not_found,
    ErrorCode.ITEM_NOT_REGISTERED: scenario_item_not_registered,
    ErrorCode.FREEZE_FAILED: scenario_freeze_failed,
    ErrorCode.SNAPSHOT_TIMEOUT: scenario_snapshot_timeout,
    ErrorCode.RECOVERY_POINT_NOT_FOUND: scenario_recovery_point_not_found,
    ErrorCode.ITEM_NOT_PROTECTED: scenario_item_not_protected,
    ErrorCode.ITEM_STATE_CHANGED: scenario_item_state_changed,
    ErrorCode.BACKUP_DATA_KEPT: scenario_backup_data_kept,
    CoreCode.INTERNAL_ERROR: scenario_internal_error,
}


def test_every_code_ends_a_real_job_somewhere():
    codes = {str(code) for code in CATALOGUE}
    covered = {str(code) for code in HERE} | {str(code) for code in ELSEWHERE}
    assert codes == covered, f"without a test: {sorted(codes - covered)}; not a code: {sorted(covered - codes)}"
    for code, where in ELSEWHERE.items():
        path, name = where.split("::")
        source = (TESTS / path).read_text()
        assert f"def {name}(" in source, where
        body = source.split(f"def {name}(", 1)[1].split("\ndef ", 1)[0]
        assert f"{type(code).__name__}.{code.name}" in body, f"{where} does not check {code}"


@pytest.mark.parametrize("code", sorted(HERE, key=str), ids=str)
def test_the_code_ends_a_real_job(code, worker, vault, owner, lab_path):
    job = HERE[code](vault, owner, lab_path)
    assert job.error_code == code, (job.status, job.error_code, job.error_detail, job.traceback)
    assert job.recommended_action, "the catalogue's action is shown with it"
    if job.status != JobStatus.COMPLETED_WITH_WARNINGS:
        assert job.status == JobStatus.FAILED


def test_the_troubleshooting_page_lists_every_code(owner_client):
    page = owner_client.get("/troubleshooting/").content.decode()
    for code in CATALOGUE:
        assert str(code) in page, code
