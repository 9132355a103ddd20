"""Restore a recovery point as a new VM or over the original's disks, checked against the point."""

from pathlib import Path

import pytest

from jobs.choices import JobStatus
from jobs.models import Job
from jobs.runner import run_job
from sources import SOURCE_KINDS, LabSource
from sources.lab_workload import LabWorkload
from tests.conftest import backup, protect, raw_bytes, wait_for_jobs
from tests.test_prune import assert_point_totals
from vaults.choices import Operation
from vaults.errors import ErrorCode, Refused
from vaults.models import RecoveryPoint, Vault
from vaults.operations.restore import restore as restore_job
from vaults.operations.restore import start_restore
from vaults.operations.verify import start_verify


def restore(vault, owner, point, **options):
    return wait_for_jobs([start_restore(vault, point, owner, **options)], timeout=60)[0]


def test_restore_as_a_new_vm(worker, vault, owner, lab_path):
    item = protect(vault, owner, "web01")
    backup(vault, owner, item)
    point = RecoveryPoint.objects.get(vm=item.vm)
    job = restore(vault, owner, point, mode="new_vm", name="web01-copy", cloud_service="restore-test")
    assert job.status == JobStatus.COMPLETED, job.error_detail or job.error_message
    assert [s.name for s in job.subtasks.all()] == [
        "Restore data from vault", "Create VM", "Verify restored disks"]
    assert "every disk checked" in job.result_message
    copy = next(vm for vm in LabSource(lab_path).inventory().vms if vm.name == "web01-copy")
    assert copy.cloud_service == "restore-test" and copy.region == item.vm.region
    original = LabSource(lab_path).get_vm(item.vm.external_id)
    for restored_disk, original_disk in zip(copy.disks, original.disks, strict=True):
        assert restored_disk.format == original_disk.format == "qcow2"
        assert raw_bytes(restored_disk.path, "qcow2") == raw_bytes(original_disk.path, "qcow2")


def test_restore_replaces_the_disks_of_the_existing_vm(worker, vault, owner, lab_path):
    item = protect(vault, owner, "app01", "contoso-app")
    disk = item.vm.disks[0]
    before = open(disk["path"], "rb").read()
    backup(vault, owner, item)
    LabWorkload(lab_path / item.vm.external_id, seed=8).write(count=20)
    assert open(disk["path"], "rb").read() != before
    job = restore(vault, owner, RecoveryPoint.objects.get(vm=item.vm), mode="replace", confirmed=True)
    assert job.status == JobStatus.COMPLETED, job.error_detail or job.error_message
    assert open(disk["path"], "rb").read() == before


@pytest.mark.parametrize("name, service", [("", "svc"), ("bad name", "svc"), ("ok", "<b>x</b>"), ("x" * 65, "svc")])
def test_a_bad_new_vm_name_is_refused(db, vault, owner, name, service):
    from tests.factories import VirtualMachineFactory

    point = RecoveryPoint.objects.create(vault=vault, vm=VirtualMachineFactory(source__subscription=vault.subscription),
                                         point_id="p", consistency="crash")
    with pytest.raises(Refused, match="letters, digits and hyphens"):
        start_restore(vault, point, owner, mode="new_vm", name=name, cloud_service=service)
    assert not point.vault.jobs.exists()


def test_a_damaged_recovery_point_fails_loudly_and_installs_nothing(worker, vault, owner, lab_path):
    item = protect(vault, owner, "web01")
    backup(vault, owner, item)
    point = RecoveryPoint.objects.get(vm=item.vm)
    repo = vault.repository()
    for pack in (Path(vault.storage_location) / "packs").rglob("*"):
        if pack.is_file():
            data = bytearray(pack.read_bytes())
            data[100] ^= 0xFF
            pack.write_bytes(bytes(data))
    assert not repo.verify().ok
    job = restore(vault, owner, point, mode="new_vm", name="should-not-exist", cloud_service="svc")
    assert job.status == JobStatus.FAILED and job.error_code == ErrorCode.DAMAGED_DATA
    assert not any(vm.name == "should-not-exist" for vm in LabSource(lab_path).inventory().vms)


def test_verify_from_the_dashboard_names_the_affected_recovery_points(worker, vault, owner, owner_client):
    item = protect(vault, owner, "web01")
    backup(vault, owner, item)
    Vault.objects.filter(pk=vault.pk).update(point_count=7, protected_bytes=1)  # totals gone astray
    response = owner_client.post(f"/vaults/{vault.pk}/verify/")
    assert response.status_code == 200 and "Verify of" in response.content.decode()
    (ok,) = wait_for_jobs(list(vault.jobs.filter(operation=Operation.VERIFY)), timeout=60)
    assert ok.status == JobStatus.COMPLETED and "1 recovery point verified" in ok.result_message
    assert_point_totals(vault)  # counted afresh
    point = RecoveryPoint.objects.get(vm=item.vm)
    assert point.verified_ok is True and point.verified_at >= ok.started_at
    for pack in (Path(vault.storage_location) / "packs").rglob("*"):
        if pack.is_file():
            data = bytearray(pack.read_bytes())
            data[len(data) // 2] ^= 0xFF  # one flipped bit in the middle of the pack's chunks
            pack.write_bytes(bytes(data))
    owner_client.post(f"/vaults/{vault.pk}/verify/")
    (damaged,) = wait_for_jobs([vault.jobs.filter(operation=Operation.VERIFY).order_by("-pk").first()], timeout=60)
    assert damaged.status == JobStatus.FAILED and damaged.error_code == ErrorCode.DAMAGED_DATA
    assert "web01 (contoso-web)" in damaged.error_detail
    point.refresh_from_db()
    assert point.verified_ok is False and point.verified_at >= damaged.started_at
    page = owner_client.get(f"/vaults/{vault.pk}/items/{item.pk}/").content.decode()
    assert "Damaged" in page


def test_verify_warns_about_points_the_portal_does_not_list(worker, vault, owner):
    item = protect(vault, owner, "web01")
    backup(vault, owner, item)
    RecoveryPoint.objects.filter(vm=item.vm).delete()  # as if the worker died before recording it
    job = wait_for_jobs([start_verify(vault, owner)], timeout=60)[0]
    assert job.status == JobStatus.COMPLETED_WITH_WARNINGS
    assert "1 of them is not listed in the portal" in job.result_message


def test_a_running_vm_whose_writes_cannot_pause_keeps_its_disks(worker, vault, owner, lab_path):
    from tests.conftest import rewrite_manifest

    item = protect(vault, owner, "app01", "contoso-app")
    backup(vault, owner, item)
    LabWorkload(lab_path / item.vm.external_id, seed=8).write(count=20)
    now = open(item.vm.disks[0]["path"], "rb").read()
    rewrite_manifest(lab_path / item.vm.external_id, pausable=False)
    job = restore(vault, owner, RecoveryPoint.objects.get(vm=item.vm), mode="replace", confirmed=True)
    assert job.status == JobStatus.FAILED and job.error_code == ErrorCode.VM_RUNNING
    assert "Shut the VM down" in job.recommended_action
    assert open(item.vm.disks[0]["path"], "rb").read() == now


def test_a_new_vm_name_taken_since_discovery_fails_and_creates_nothing(worker, vault, owner, lab_path):
    from sources.lab_build import create_lab_vm

    item = protect(vault, owner, "web01")
    backup(vault, owner, item)
    create_lab_vm(lab_path, name="taken", cloud_service="svc", region="East US")  # not discovered yet
    before = len(LabSource(lab_path).inventory().vms)
    job = restore(vault, owner, RecoveryPoint.objects.get(vm=item.vm), mode="new_vm", name="taken", cloud_service="svc")
    assert job.status == JobStatus.FAILED and job.error_code == ErrorCode.VM_NAME_TAKEN
    assert len(LabSource(lab_path).inventory().vms) == before


class DiskThatLies(LabSource):
    """A lab source whose disks hand back something other than what was written to them: a failing
    disk or controller, which cannot be had here. The restore job's read-back must catch it."""

    def export_disk(self, vm_id, disk_key, target):
        exported = super().export_disk(vm_id, disk_key, target)
        with open(exported, "r+b") as image:
            image.seek(4096)
            byte = image.read(1)
            image.seek(4096)
            image.write(bytes([byte[0] ^ 0x01]))
        return exported


def test_a_restored_disk_that_reads_back_different_fails_restore_mismatch(worker, vault, owner, monkeypatch):
    item = protect(vault, owner, "web01")
    backup(vault, owner, item)
    point = RecoveryPoint.objects.get(vm=item.vm)
    monkeypatch.setitem(SOURCE_KINDS, "lab", DiskThatLies)
    # Made, never sent: it runs in this process, where the source lies, and no worker races it.
    job = Job.objects.create_queued(vault=vault, vm=item.vm, entity_name=item.vm.name, operation=Operation.RESTORE,
                                    parameters={"point": point.pk, "mode": "new_vm", "name": "web01-liar",
                                                "cloud_service": "restore-test"})
    run_job(job.pk, restore_job, atomic=False)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_code == ErrorCode.RESTORE_MISMATCH
    assert "differs from the recovery point" in job.error_detail and "do not start the VM" in job.recommended_action
    assert job.subtasks.get(name="Verify restored disks").status == JobStatus.FAILED
