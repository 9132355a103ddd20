"""Space comes back on a schedule: retention after a backup only forgets points; a per-vault Prune job
(nightly, or from the Dashboard) removes their data."""

import datetime

from django.utils import timezone

from jobs.choices import JobStatus
from jobs.models import Job
from sources.lab_workload import LabWorkload
from tests.conftest import backup, disk_bytes, protect, wait_for_jobs
from tests.test_backups import restored
from vaults.choices import Operation
from vaults.models import RecoveryPoint, Vault
from vaults.operations.prune import prune_every_vault


def assert_point_totals(vault):
    """The vault's running point totals (what the Dashboard shows) are what its points add up to."""
    vault = Vault.objects.get(pk=vault.pk)
    points = list(RecoveryPoint.objects.filter(vault=vault))
    assert (vault.point_count, vault.protected_bytes) == (len(points), sum(point.size for point in points))


def test_retention_forgets_and_the_prune_gives_the_space_back(worker, vault, owner, owner_client, lab_path, tmp_path):
    item = protect(vault, owner, "app01", "contoso-app")
    backup(vault, owner, item)
    first = RecoveryPoint.objects.get(vm=item.vm)
    LabWorkload(lab_path / item.vm.external_id, seed=9).write(count=30)
    backup(vault, owner, item)
    # The first point's own date has passed: the next backup's retention forgets it.
    RecoveryPoint.objects.filter(pk=first.pk).update(retain_until=timezone.now() - datetime.timedelta(days=1))
    LabWorkload(lab_path / item.vm.external_id, seed=10).write(count=30)
    (job,) = backup(vault, owner, item)
    assert "Retention removed 1 older point." in job.result_message
    assert_point_totals(vault)  # three added, one forgotten
    assert Vault.objects.get(pk=vault.pk).point_count == 2
    repo = vault.repository()
    assert first.point_id not in repo.point_ids()
    stored_before = repo.stored_bytes()

    response = owner_client.post(f"/vaults/{vault.pk}/prune/")
    assert response.status_code == 200 and "Prune" in response.content.decode()
    (pruned,) = wait_for_jobs(list(Job.objects.filter(operation=Operation.PRUNE)), timeout=60)
    assert pruned.status == JobStatus.COMPLETED and "freed" in pruned.result_message, pruned.error_detail
    assert vault.repository().stored_bytes() < stored_before, "the forgotten point's data is gone"
    for point in RecoveryPoint.objects.filter(vm=item.vm):
        assert restored(vault, point, tmp_path) is not None
    newest = RecoveryPoint.objects.filter(vm=item.vm).first()
    assert restored(vault, newest, tmp_path) == [disk_bytes(disk) for disk in item.vm.disks]
    assert vault.repository().verify().ok


def test_the_nightly_tick_starts_one_prune_per_vault(db, vault, owner):
    from vaults.services import create_vault

    other = create_vault(subscription=vault.subscription, name="other", region="East US", user=owner)
    started = prune_every_vault()
    assert sorted(job.vault_id for job in started) == sorted([vault.pk, other.pk])
    assert prune_every_vault() == [], "a vault whose prune has not ended gets no second one"
