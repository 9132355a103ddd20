"""Backups that never hold the wrong bytes: what a hostile or unlucky VM folder does to the portal's
Discover, Backup and Restore, run on the real worker."""

import datetime
import subprocess

from django.utils import timezone

from jobs.choices import JobStatus
from sources.lab_build import MiB, create_lab_vm
from sources.lab_folder import CHANGE_LOG, MANIFEST
from sources.lab_workload import LabWorkload
from tests.conftest import backup, disk_bytes, flip_a_bit, protect, rewrite_manifest, wait_for_jobs
from tests.test_backups import restored
from vaults.errors import ErrorCode
from vaults.models import RecoveryPoint
from vaults.operations.discovery import start_discovery
from vaults.operations.restore import start_restore
from vaults.operations.verify import start_verify
from vaults.retention import apply_retention

SECRET = b"root:$y$j9T$a-password-hash-no-backup-may-hold:19000:0:99999:7:::\n" * 64


def discover(vault, owner):
    (job,) = wait_for_jobs([start_discovery(vault, owner)])
    return job


def test_discovery_says_why_a_disk_backed_by_a_host_file_is_refused(worker, vault, owner, lab_path, tmp_path):
    secret = tmp_path / "shadow"
    secret.write_bytes(SECRET)
    folder = create_lab_vm(lab_path, name="leaky", cloud_service="svc", region="East US", disks=[("raw", MiB)])
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(secret), "-F", "raw",
                    str(folder / "top.qcow2")], check=True)
    rewrite_manifest(folder, disks=[{"name": "OS disk", "file": "top.qcow2", "format": "qcow2"}])
    job = discover(vault, owner)
    assert job.status == JobStatus.COMPLETED_WITH_WARNINGS
    assert "top.qcow2 has a backing file outside the VM's folder" in job.result_message
    assert not vault.discovered_vms.filter(name="leaky").exists()


def test_a_disk_made_hostile_after_discovery_fails_its_backup_and_nothing_is_stored(worker, vault, owner,
                                                                                  lab_path, tmp_path):
    item = protect(vault, owner, "app01", "contoso-app")
    secret = tmp_path / "shadow"
    secret.write_bytes(SECRET)
    folder = lab_path / item.vm.external_id
    (folder / "disk0.img").unlink()
    (folder / "disk0.img").symlink_to(secret)
    (job,) = backup(vault, owner, item)
    assert job.status == JobStatus.FAILED and job.error_code == ErrorCode.DISK_REFUSED, job.error_detail
    assert "symbolic or hard link" in job.error_detail
    assert not RecoveryPoint.objects.filter(vm=item.vm).exists()
    assert vault.repository().storage.list("packs/") == [], "not a byte of the host file went to the vault"


def test_two_disks_with_one_name_keep_their_own_data_through_backups_and_restores(worker, vault, owner,
                                                                                    lab_path, tmp_path):
    folder = create_lab_vm(lab_path, name="twins", cloud_service="svc", region="East US",
                           disks=[("raw", 2 * MiB), ("raw", 2 * MiB)])
    rewrite_manifest(folder, disks=[{"name": "same", "file": "disk0.img", "format": "raw"},
                                    {"name": "same", "file": "disk1.img", "format": "raw"}])
    item = protect(vault, owner, "twins")
    first_bytes = [disk_bytes(disk) for disk in item.vm.disks]
    assert first_bytes[0] != first_bytes[1]
    (job,) = backup(vault, owner, item)
    assert job.status == JobStatus.COMPLETED, job.error_detail
    first = RecoveryPoint.objects.get(vm=item.vm)
    RecoveryPoint.objects.filter(pk=first.pk).update(created_at=timezone.now() - datetime.timedelta(days=1))

    workload = LabWorkload(folder, seed=4)
    workload.disks = workload.disks[1:]  # only the second disk changes
    workload.write(count=30)
    second_bytes = [disk_bytes(disk) for disk in item.vm.disks]
    assert second_bytes[0] == first_bytes[0] and second_bytes[1] != first_bytes[1]
    (job,) = backup(vault, owner, item)
    assert job.status == JobStatus.COMPLETED, job.error_detail
    assert RecoveryPoint.objects.filter(vm=item.vm).count() == 2, "retention keeps a point for each day"
    second = RecoveryPoint.objects.filter(vm=item.vm).first()
    assert second.bytes_read < 2 * 2 * MiB, "the second backup was incremental"

    assert restored(vault, first, tmp_path) == first_bytes
    assert restored(vault, second, tmp_path) == second_bytes

    # A replace-restore of the first point puts each disk's own bytes back in its own file.
    (job,) = wait_for_jobs([start_restore(vault, first, owner, mode="replace", confirmed=True)], timeout=60)
    assert job.status == JobStatus.COMPLETED, job.error_detail or job.error_message
    assert [disk_bytes(disk) for disk in item.vm.disks] == first_bytes


def test_a_backup_leaves_no_work_files(worker, vault, owner, settings):
    item = protect(vault, owner, "web01")
    (job,) = backup(vault, owner, item)
    assert job.status == JobStatus.COMPLETED
    assert list(settings.WORK_ROOT.iterdir()) == []
    assert oct(settings.WORK_ROOT.stat().st_mode & 0o777) == "0o700"


def test_lab_files_never_planted_survive_a_replace_restore(worker, vault, owner, lab_path, tmp_path):
    item = protect(vault, owner, "app01", "contoso-app")
    (job,) = backup(vault, owner, item)
    folder = lab_path / item.vm.external_id
    victim = tmp_path / "victim"
    victim.write_bytes(b"host file")
    (folder / ".disk0.img.restoring").symlink_to(victim)
    point = RecoveryPoint.objects.get(vm=item.vm)
    (job,) = wait_for_jobs([start_restore(vault, point, owner, mode="replace", confirmed=True)],
                           timeout=60)
    assert job.status == JobStatus.COMPLETED, job.error_detail or job.error_message
    assert victim.read_bytes() == b"host file"
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        [MANIFEST, "disk0.img", "io.lock", ".disk0.img.restoring"] + ([CHANGE_LOG] if (folder / CHANGE_LOG).exists() else []))


# --- Damaged chunks are never built on ----------------------------------------------------------------


def flip_a_byte_in_every_pack(vault):
    from pathlib import Path

    for pack in (Path(vault.storage_location) / "packs").rglob("*"):
        if pack.is_file() and not pack.name.startswith("."):
            flip_a_bit(pack, at=pack.stat().st_size // 3)


def test_after_verify_finds_damage_the_next_backup_stores_the_chunks_anew(worker, vault, owner):
    item = protect(vault, owner, "app01", "contoso-app")
    (first,) = backup(vault, owner, item)
    assert first.status == JobStatus.COMPLETED
    flip_a_byte_in_every_pack(vault)
    (damaged,) = wait_for_jobs([start_verify(vault, owner)], timeout=60)
    assert damaged.status == JobStatus.FAILED and damaged.error_code == ErrorCode.DAMAGED_DATA

    (again,) = backup(vault, owner, item)  # the VM did not change: today this was "0 bytes new"
    assert again.status == JobStatus.COMPLETED, again.error_detail
    newest = RecoveryPoint.objects.filter(vm=item.vm).first()
    assert newest.new_bytes > 0, "the damaged chunk was stored anew from the source"
    assert newest.bytes_read == newest.size, "the disk was read whole, not built on the damaged point"
    (clean,) = wait_for_jobs([start_verify(vault, owner)], timeout=60)
    assert clean.status == JobStatus.COMPLETED, clean.error_detail or clean.error_message
    (restore,) = wait_for_jobs([start_restore(vault, newest, owner, mode="new_vm", name="healed",
                                                      cloud_service="svc")], timeout=60)
    assert restore.status == JobStatus.COMPLETED, restore.error_detail


def test_damage_a_restore_finds_is_not_built_on_either(worker, vault, owner):
    item = protect(vault, owner, "app01", "contoso-app")
    backup(vault, owner, item)
    flip_a_byte_in_every_pack(vault)
    point = RecoveryPoint.objects.get(vm=item.vm)
    (failed,) = wait_for_jobs([start_restore(vault, point, owner, mode="new_vm", name="x", cloud_service="svc")],
                              timeout=60)
    assert failed.status == JobStatus.FAILED and failed.error_code == ErrorCode.DAMAGED_DATA
    (again,) = backup(vault, owner, item)
    assert again.status == JobStatus.COMPLETED
    assert RecoveryPoint.objects.filter(vm=item.vm).first().new_bytes > 0


def test_retention_keeps_the_newest_restorable_point_when_newer_ones_are_damaged(worker, vault, owner, lab_path):
    from pathlib import Path


    item = protect(vault, owner, "app01", "contoso-app")
    backup(vault, owner, item)
    good = RecoveryPoint.objects.get(vm=item.vm)
    RecoveryPoint.objects.filter(pk=good.pk).update(created_at=timezone.now() - datetime.timedelta(days=3))
    repo = vault.repository()
    packs_of_the_good_point = set(repo.storage.list("packs/"))
    LabWorkload(lab_path / item.vm.external_id, seed=11).write(count=40)
    backup(vault, owner, item)
    newer = RecoveryPoint.objects.filter(vm=item.vm).first()
    for name in set(repo.storage.list("packs/")) - packs_of_the_good_point:  # only the newer point's new chunks
        path = Path(repo.storage.location) / name
        flip_a_bit(path, at=path.stat().st_size // 3)
    report = repo.verify()
    assert newer.point_id in report.affected_points and good.point_id not in report.affected_points

    # Its own date (a Backup Now point's) passed: only the restorable rule can keep it now.
    RecoveryPoint.objects.filter(pk=good.pk).update(retain_until=timezone.now() - datetime.timedelta(days=1))
    apply_retention(vault.repository(), item)
    kept = set(RecoveryPoint.objects.filter(vm=item.vm).values_list("point_id", flat=True))
    assert kept == {good.point_id, newer.point_id}, "the last restorable point stays"
    assert good.point_id in vault.repository().point_ids()
