"""Discover: ask every VM source of the vault's subscription for the VMs in the vault's region.
One discovery per vault at a time (the database refuses a second)."""

from django.utils import timezone
from django.utils.translation import gettext as _

from jobs.choices import JobStatus
from jobs.errors import JobError
from jobs.messages import joined, note, plural_note
from sources import SourceUnavailable
from vaults.choices import Operation
from vaults.errors import ErrorCode
from vaults.models import VirtualMachine
from vaults.operations.common import start_vault_job


def start_discovery(vault, user):
    return start_vault_job(vault, Operation.DISCOVERY, user, _("Another Discovery operation is already in progress."))


def discover(job):
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
        for found in inventory.vms:
            seen.append(remember_vm(source, found))
        job.beat(done=done)
    if not reached:
        raise JobError(ErrorCode.SOURCE_UNAVAILABLE, "; ".join(problems))

    vault.discovered_vms.set(seen)
    new = VirtualMachine.objects.filter(pk__in=[vm.pk for vm in seen], registration__isnull=True).count()
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


def remember_vm(source, found):
    """The VM row for what a source reported, made or brought up to date."""
    vm, _created = VirtualMachine.objects.update_or_create(
        source=source,
        external_id=found.id,
        defaults={
            "name": found.name,
            "cloud_service": found.cloud_service,
            "region": found.region,
            "power_state": found.power_state,
            "has_backup_extension": found.has_backup_extension,
            "disks": [
                {"key": disk.key, "name": disk.name, "path": disk.path, "format": disk.format,
                 "virtual_size": disk.virtual_size}
                for disk in found.disks
            ],
            "last_seen_at": timezone.now(),
        },
    )
    return vm
