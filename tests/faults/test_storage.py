"""The vault's storage full, a pack truncated, the clock jumping forward: jobs end with a reason,
what is listed restores, and the next backup heals what it can."""

import datetime
import re
import subprocess
from pathlib import Path

import pytest
from django.utils import timezone

from jobs.choices import JobStatus
from jobs.errors import CoreCode
from jobs.reaper import reap_stale_jobs
from tests.conftest import protect
from tests.faults.conftest import (
    MiB,
    assert_all_is_well,
    make_disk_big,
    wait_for_progress,
    wait_for_terminal,
    wait_until,
)
from tests.test_backups import restored
from vaults.errors import ErrorCode
from vaults.models import RecoveryPoint
from vaults.operations.backup import start_backup
from vaults.operations.restore import start_restore
from vaults.operations.verify import start_verify
from vaults.schedule import schedule_due_backups


@pytest.fixture
def small_storage(settings):
    """The vault storage on a 40 MiB tmpfs where the machine lets us mount one; `grow()` gives it room.
    Elsewhere the worker runs with a 1 MiB file-size limit instead (its pack writes fail the same way)."""
    root = Path(settings.VAULT_STORAGE_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m,mode=0700", "tmpfs", str(root)],
                             capture_output=True).returncode == 0

    class Storage:
        limit = () if mounted else ("prlimit", f"--fsize={MiB}")

        @staticmethod
        def grow():
            if mounted:
                subprocess.run(["mount", "-o", "remount,size=1g", str(root)], check=True)
            Storage.limit = ()

    try:
        yield Storage
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(root)], check=False)


def test_a_full_vault_storage_fails_the_backup_clearly_and_the_next_one_completes(
        small_storage, workers, vault, owner, tmp_path):
    workers.start(name="w1", prefix=small_storage.limit)
    item = protect(vault, owner, "app01", "contoso-app")
    make_disk_big(item, 96)  # random data: it does not compress, and does not fit
    (job,) = wait_for_terminal(start_backup(vault, [item.pk], owner), timeout=120)
    assert job.status == JobStatus.FAILED and job.error_code == ErrorCode.STORAGE_UNAVAILABLE, job.traceback
    assert "full" in job.error_message and ("No space left" in job.error_detail or "too large" in job.error_detail)
    assert not RecoveryPoint.objects.filter(vm=item.vm).exists()
    leftovers = [path for path in Path(vault.storage_location).rglob(".tmp-*")]
    assert leftovers == [], "a failed write leaves no temporary file"

    small_storage.grow()
    workers.stop_all()
    workers.start(name="w2")
    (again,) = wait_for_terminal(start_backup(vault, [item.pk], owner), timeout=120)
    assert again.status == JobStatus.COMPLETED, again.error_detail or again.traceback
    assert_all_is_well(vault, tmp_path)


def test_a_truncated_pack_is_named_by_verify_and_healed_by_the_next_backup(workers, vault, owner, tmp_path):
    from tests.conftest import disk_bytes

    workers.start()
    item = protect(vault, owner, "app01", "contoso-app")
    (first,) = wait_for_terminal(start_backup(vault, [item.pk], owner))
    point = RecoveryPoint.objects.get(vm=item.vm)
    original = [disk_bytes(disk) for disk in item.vm.disks]
    (pack,) = [path for path in Path(vault.storage_location).glob("packs/*/*")]
    pack.write_bytes(pack.read_bytes()[: pack.stat().st_size // 2])  # a disk that lost the pack's tail

    (verify,) = wait_for_terminal([start_verify(vault, owner)])
    assert verify.status == JobStatus.FAILED and verify.error_code == ErrorCode.DAMAGED_DATA
    assert str(item.vm) in verify.error_detail
    (restore,) = wait_for_terminal([start_restore(vault, point, owner, mode="new_vm", name="from-damage",
                                                          cloud_service="svc")])
    assert restore.status == JobStatus.FAILED and restore.error_code == ErrorCode.DAMAGED_DATA

    RecoveryPoint.objects.filter(pk=point.pk).update(created_at=point.created_at - datetime.timedelta(days=1))
    (healing,) = wait_for_terminal(start_backup(vault, [item.pk], owner))  # retention keeps both days
    assert healing.status == JobStatus.COMPLETED, healing.error_detail
    assert RecoveryPoint.objects.filter(vm=item.vm).first().new_bytes > 0, "the lost chunks were stored anew"
    assert restored(vault, point, tmp_path) == original, "the old point reads the new copies"
    assert_all_is_well(vault, tmp_path)


@pytest.mark.slow
def test_the_clock_jumping_forward_mid_backup_leaves_every_job_ended_and_every_point_whole(
        workers, vault, owner, tmp_path):
    workers.start()
    item = protect(vault, owner, "app01", "contoso-app")
    make_disk_big(item, 192)
    (job,) = start_backup(vault, [item.pk], owner)
    wait_for_progress(job, 16 * MiB)
    later = timezone.now() + datetime.timedelta(hours=2)  # what beat's clock says after the jump
    reap_stale_jobs(later)  # the running backup looks two hours silent
    schedule_due_backups(later)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_code == CoreCode.WORKER_LOST
    others = list(vault.jobs.exclude(pk=job.pk))
    wait_for_terminal(others, timeout=180)
    # The backup failed under it carries on and ends on its own; it may leave a point the portal does
    # not list (as a crash would), never a listed point without data.
    first_task = re.compile(r"vaults\.tasks\.backup\[[^]]+\] (succeeded|raised)")
    wait_until(lambda: first_task.search(workers.log("w1")), 180, "the first backup task never ended")
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED, "a job the reaper ended stays ended"
    assert_all_is_well(vault, tmp_path)
