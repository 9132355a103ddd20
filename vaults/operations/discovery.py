"""Discover: ask every VM source of the vault's subscription for the VMs in the vault's region.
One discovery per vault at a time (the database refuses a second)."""

from django.utils import timezone
from django.utils.translation import gettext as _

from jobs.choices import JobStatus
from jobs.errors import JobError
from jobs.messages import joined, note, plural_note
from jobs.runner import last_commit
from sources import SourceUnavailable
from vaults.choices import Operation
from vaults.errors import ErrorCode
from vaults.models import VirtualMachine
from vaults.operations.common import start_vault_job


def start_discovery(vault, user):
    return start_vault_job(vault, Operation.DISCOVERY, user, _("Another Discovery operation is already in progress."))


def discover(job):
    """Runs with its job not atomic: the VM rows are written in batches, each committed at once, so no
    VM stays locked while a large fleet is read; what the vault found is recorded in its last commit."""
    vault = job.vault
    sources = list(vault.subscription.sources.order_by("name"))
    if not sources:
        raise JobError(ErrorCode.SOURCE_UNAVAILABLE, note("The subscription has no VM sources."))
    job.beat(done=0, total=len(sources), message=note("Asking the VM sources"))
    seen, problems, reached = [], [], 0
    for done, source in enumerate(sources, start=1):
        try:
            inventory = source.open().list_vms(vault.region)
        except SourceUnavailable as error:
            problems.append(f"{source.name}: {error}")
            continue
        reached += 1
        problems += [f"{source.name}: {problem}" for problem in inventory.problems]
        seen += remember_vms(source, inventory.vms)
        job.beat(done=done)
    if not reached:
        raise JobError(ErrorCode.SOURCE_UNAVAILABLE, "; ".join(problems))

    with last_commit(job):
        vault.discovered_vms.set(seen)
    new = vault.discovered_vms.filter(registration__isnull=True).count()
    if new:
        message = plural_note("Discovery found %(count)d VM that can be registered.",
                              "Discovery found %(count)d VMs that can be registered.", "count", count=new)
    else:
        message = note("No new VMs were found. Check that the VM exists, that it is in the vault's region "
                       "(%(region)s), and that it is not already registered to a vault.", region=vault.region)
    if problems:  # what the sources said, as they said it
        return JobStatus.COMPLETED_WITH_WARNINGS, joined(message, note("Skipped: %(problems)s",
                                                                       problems="; ".join(problems)))
    return JobStatus.COMPLETED, message


BATCH = 1000  # VM rows a statement
REFRESHED = ["name", "cloud_service", "region", "power_state", "has_backup_extension", "disks", "last_seen_at"]


def remember_vms(source, found_vms):
    """The ids of the VM rows for what a source reported, made or brought up to date: one insert-or-update
    statement a batch, each committed on its own. A VM the source named twice is written once (as it
    was named last)."""
    now = timezone.now()
    rows = {
        found.id: VirtualMachine(
            source=source, external_id=found.id, name=found.name, cloud_service=found.cloud_service,
            region=found.region, power_state=found.power_state, has_backup_extension=found.has_backup_extension,
            disks=[{"key": disk.key, "name": disk.name, "path": disk.path, "format": disk.format,
                    "virtual_size": disk.virtual_size} for disk in found.disks],
            last_seen_at=now,
        )
        for found in found_vms
    }
    batch, keys, ids = list(rows.values()), list(rows), {}
    for start in range(0, len(batch), BATCH):
        VirtualMachine.objects.bulk_create(batch[start:start + BATCH], update_conflicts=True,
                                           unique_fields=["source", "external_id"], update_fields=REFRESHED)
        ids.update(VirtualMachine.objects.filter(source=source, external_id__in=keys[start:start + BATCH])
                   .values_list("external_id", "pk"))
    return [ids[external_id] for external_id in rows]


def remember_vm(source, found):
    """One VM's row made or brought up to date (Register checks its VM again)."""
    remember_vms(source, [found])
