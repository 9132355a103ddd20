"""Register and Unregister: a discovered VM becomes an item of the vault (one vault per VM), and
an unprotected item goes again (its VM and its history stay)."""

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from jobs.choices import JobStatus
from jobs.errors import JobError
from jobs.messages import note
from sources import SourceUnavailable
from vaults import states
from vaults.choices import Operation
from vaults.errors import ErrorCode, Refused
from vaults.models import RecoveryPoint, RegisteredItem
from vaults.operations.common import item_of, item_state_changed, jobs_per_item, pick, start_per_item
from vaults.operations.discovery import remember_vm
from vaults.queries import registrable_vms


@transaction.atomic
def start_registration(vault, vm_ids, user):
    vms = pick(
        registrable_vms(vault),
        vm_ids,
        _("Only discovered VMs that are not registered to a vault can be registered. Run Discover and try again."),
    )
    try:
        with transaction.atomic():
            items = states.register(vault, vms, _("Register requested"))
    except IntegrityError:  # one was registered by another vault a moment ago
        taken = RegisteredItem.objects.filter(vm__in=vms).select_related("vm").first()
        raise Refused(_("%(vm)s is already registered to a vault.") % {"vm": taken.vm if taken else vms[0]}) from None
    return jobs_per_item(vault, Operation.REGISTER, user, items)


def register(job):
    """Check that the VM still exists in its source, then mark it registered."""
    item = item_of(job)
    try:
        found = item.vm.source.open().get_vm(item.vm.external_id)
    except SourceUnavailable as error:
        raise JobError(ErrorCode.SOURCE_UNAVAILABLE, str(error)) from None
    if found is None:
        raise JobError(ErrorCode.VM_NOT_FOUND)
    remember_vm(item.vm.source, found)
    if not states.move(item, Operation.REGISTER, states.SUCCESS, _("Register job completed")):
        raise item_state_changed(item)
    return JobStatus.COMPLETED, note("%(vm)s is registered.", vm=str(item.vm))


@transaction.atomic
def start_unregister(vault, item_ids, user):
    items, jobs = start_per_item(vault, Operation.UNREGISTER, item_ids, user,
                                 _("Only registered VMs that are not protected can be unregistered. Stop protection first."))
    with_data = set(RecoveryPoint.objects.filter(vault=vault, vm__in=[item.vm_id for item in items])
                    .values_list("vm_id", flat=True))
    kept = [item for item in items if item.vm_id in with_data]
    if kept:
        # Points of an unregistered VM would be in no list, yet count in the vault's storage.
        raise Refused(_("%(vm)s still has recovery points. Delete its backup data first, then unregister it.") % {
            "vm": kept[0].vm})
    for item in items:
        if not states.move(item, Operation.UNREGISTER, states.START, _("Unregister requested")):
            raise Refused(_("%(vm)s changed meanwhile. Try again.") % {"vm": item.vm})
    return jobs


def unregister(job):
    item = item_of(job)
    if _has_backup_data(item):
        raise JobError(ErrorCode.BACKUP_DATA_KEPT)
    if not states.move(item, Operation.UNREGISTER, states.SUCCESS, _("Unregister job completed")):
        raise item_state_changed(item)
    return JobStatus.COMPLETED, note("%(vm)s is unregistered.", vm=str(job.vm))


def _has_backup_data(item):
    return RecoveryPoint.objects.filter(vault_id=item.vault_id, vm_id=item.vm_id).exists()
