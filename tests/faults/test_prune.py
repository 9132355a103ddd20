"""A prune and a backup of the same vault at once, on two worker processes: they take turns at the
vault's storage, and afterwards every point restores byte for byte and the repository verifies."""

from jobs.choices import JobStatus
from tests.conftest import protect
from tests.faults.conftest import assert_all_is_well, make_disk_big, wait_for_progress, wait_for_terminal
from vaults.models import RecoveryPoint
from vaults.operations.backup import start_backup
from vaults.operations.prune import start_prune
from vaults.retention import apply_retention


def test_a_prune_racing_a_backup_removes_nothing_the_backup_needs(workers, vault, owner, tmp_path):
    workers.start(name="w1", concurrency=2)
    item = protect(vault, owner, "app01", "contoso-app")
    make_disk_big(item, 48)
    (first,) = wait_for_terminal(start_backup(vault, [item.pk], owner))
    make_disk_big(item, 48)
    (second,) = wait_for_terminal(start_backup(vault, [item.pk], owner))
    assert first.status == second.status == JobStatus.COMPLETED
    # The first point is forgotten: a prune now has a whole disk's data to remove.
    oldest = RecoveryPoint.objects.filter(vm=item.vm).last()
    RecoveryPoint.objects.filter(pk=oldest.pk).update(retain_until=oldest.created_at)
    assert apply_retention(vault.repository(), item) == 1

    make_disk_big(item, 96)  # new data, some of it stored while the prune waits or runs
    (running,) = start_backup(vault, [item.pk], owner)
    wait_for_progress(running, 8 * 1024 * 1024)
    pruning = start_prune(vault, owner)
    backed_up, pruned = wait_for_terminal([running, pruning], timeout=240)
    assert backed_up.status == JobStatus.COMPLETED, backed_up.error_detail
    assert pruned.status == JobStatus.COMPLETED and "freed" in pruned.result_message, pruned.error_detail
    assert RecoveryPoint.objects.filter(vm=item.vm).count() == 2
    assert_all_is_well(vault, tmp_path)
