"""Discovery writes VM rows in batches (vaults/operations/discovery.py): many VMs in a few statements,
a VM named twice written once, a changed VM brought up to date, what the vault found recorded last."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.choices import JobStatus
from jobs.models import Job
from jobs.runner import run_job
from sources.base import VM, Disk
from tests.factories import VMSourceFactory
from vaults.models import VirtualMachine
from vaults.operations import discovery


def found(index, name=None, power_state="running"):
    return VM(id=f"vm-{index}", name=name or f"vm{index}", cloud_service="svc", region="East US",
              power_state=power_state, has_backup_extension=True,
              disks=(Disk(key="disk0", name="disk0", path="/x", format="raw", virtual_size=4096),))


def test_many_vms_are_written_in_a_few_statements_and_found_again_by_id(db):
    source = VMSourceFactory()
    with CaptureQueriesContext(connection) as captured:
        ids = discovery.remember_vms(source, [found(index) for index in range(2500)])
    assert len(captured) <= 2500 // 50, "a statement a batch (smaller on SQLite), not a statement a VM"
    assert len(ids) == 2500 and set(ids) == set(VirtualMachine.objects.filter(source=source).values_list("pk", flat=True))
    again = discovery.remember_vms(source, [found(index, power_state="stopped") for index in range(2500)])
    assert again == ids, "the same rows, brought up to date"
    assert set(VirtualMachine.objects.values_list("power_state", flat=True)) == {"stopped"}


def test_a_vm_the_source_names_twice_is_one_row_as_named_last(db):
    source = VMSourceFactory()
    ids = discovery.remember_vms(source, [found(1, name="first"), found(2), found(1, name="second")])
    assert len(ids) == 2
    assert VirtualMachine.objects.get(source=source, external_id="vm-1").name == "second"


def test_a_discovery_of_a_lab_of_more_vms_than_a_batch_finds_each_once(db, vault, tmp_path):
    from sources.lab_build import create_lab_vm

    for index in range(1200):
        create_lab_vm(tmp_path / "fleet", name=f"vm{index}", cloud_service="svc", region="East US",
                      disks=[("raw", 4096)], seed=index)
    fleet = VMSourceFactory(subscription=vault.subscription, location=str(tmp_path / "fleet"))
    for _ in range(2):  # found, then found again
        job = Job.objects.create_queued(vault=vault, entity_name=vault.name, operation="discovery")
        run_job(job.pk, discovery.discover, atomic=False)
        job.refresh_from_db()
        assert job.status == JobStatus.COMPLETED, job.error_message
        assert f"{vault.discovered_vms.count()} VMs that can be registered" in job.result_message
        assert vault.discovered_vms.filter(source=fleet).count() == 1200 == fleet.vms.count()
