"""The vault workflow: what each command does, and what each job does on a worker.

`start_*` functions run in the web request: they check the request against the current state,
change the items' states and create one job per item, all in one transaction, or refuse
with a `Refused` message and change nothing. The job functions run on a worker
(called from tasks.py through jobs.services.run_job) and return (status, message).
"""

import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from jobs.choices import JobStatus, Operation
from jobs.errors import ErrorCode, JobError
from jobs.services import JobConflict, create_job
from jobs.work import space_held
from sources import SourceUnavailable
from vaults.choices import (
    ACTIVE_PROTECTION_STATES,
    DEFAULT_POLICY_NAME,
    Frequency,
    ProtectionState,
    RegistrationState,
)
from vaults.models import UNREGISTERED, KeyExport, Policy, RegisteredItem, Vault, VirtualMachine

# Protection states from which a VM can be (re)protected (it can be stopped from ACTIVE_PROTECTION_STATES).
PROTECTABLE_STATES = [ProtectionState.NOT_PROTECTED, ProtectionState.STOPPED]


class Refused(Exception):
    """A command that cannot be carried out as asked. Its message is for the user; nothing changed."""


# --- Vaults and policies ------------------------------------------------------------------


@transaction.atomic
def create_vault(*, subscription, name, region, user):
    # The database's unique constraint is the authority; the form already told the user nicely.
    try:
        with transaction.atomic():
            vault = Vault.objects.create(subscription=subscription, name=name, region=region, created_by=user)
    except IntegrityError:  # a concurrent request took the name first
        raise Refused(_("A vault named %(name)s already exists in this subscription.") % {"name": name}) from None
    Policy.objects.create(
        vault=vault,
        name=DEFAULT_POLICY_NAME,
        frequency=Frequency.DAILY,
        time_of_day=datetime.time(22, 0),
        time_zone="UTC",
        retain_daily=30,
    )
    return vault


def create_policy(vault, **fields):
    """A new policy, checked against the retention rules however it arrives (wizard, dialog, code)."""
    policy = Policy(vault=vault, **fields)
    try:
        policy.full_clean(exclude=["vault"], validate_constraints=False)
    except ValidationError as error:
        raise Refused(" ".join(error.messages)) from None
    try:
        with transaction.atomic():
            policy.save()
            return policy
    except IntegrityError:
        raise Refused(_("A policy named %(name)s already exists in this vault.") % {"name": fields["name"]}) from None


@transaction.atomic
def delete_policies(vault, policy_ids):
    """Delete the chosen policies of a vault: all of them, or none if any still protects a VM."""
    policies = pick(vault.policies.select_for_update(), policy_ids, _("Select a policy of this vault to delete."),
                     nothing=_("Select a policy to delete."))
    for policy in policies:
        _delete_unused_policy(policy)


def _delete_unused_policy(policy):
    in_use = policy.items.count()
    if in_use:
        raise Refused(
            ngettext(
                "Policy %(name)s protects %(count)d VM. Protect it with another policy or stop its protection first.",
                "Policy %(name)s protects %(count)d VMs. Protect them with another policy or stop their protection first.",
                in_use,
            )
            % {"name": policy.name, "count": in_use}
        )
    policy.delete()


# --- What each command may be applied to -------------------------------------------------


def registrable_vms(vault):
    """VMs this vault discovered in its region that no vault has registered."""
    return vault.discovered_vms.filter(registration__isnull=True, region=vault.region)


def registered_unprotected_items(vault):
    return vault.items.select_related("vm").filter(
        registration_state=RegistrationState.REGISTERED, protection_state__in=PROTECTABLE_STATES
    )


# --- Commands from the portal -------------------------------------------------------------


def pick(queryset, ids, refusal, nothing=None):
    """The rows of `queryset` with these ids, or Refused if any id is not among them."""
    ids = set(ids)
    if not ids:
        raise Refused(nothing or _("Select at least one VM."))
    rows = list(queryset.filter(pk__in=ids))
    if len(rows) != len(ids):
        raise Refused(refusal)
    return rows


def jobs_per_item(vault, operation, user, items, parameters=None):
    try:
        return [
            create_job(vault, operation, user=user, vm=item.vm, parameters=parameters) for item in items
        ]
    except JobConflict:
        raise Refused(_("Another operation is in progress on one of the selected VMs. Try again when it ends.")) from None


def start_discovery(vault, user):
    try:
        return create_job(vault, Operation.DISCOVERY, user=user)
    except JobConflict:
        raise Refused(_("Another Discovery operation is already in progress.")) from None


@transaction.atomic
def start_registration(vault, vm_ids, user):
    vms = pick(
        registrable_vms(vault),
        vm_ids,
        _("Only discovered VMs that are not registered to a vault can be registered. Run Discover and try again."),
    )
    items = []
    for vm in vms:
        try:
            with transaction.atomic():
                item = RegisteredItem.objects.create(vault=vault, vm=vm)
        except IntegrityError:  # registered by another vault a moment ago
            raise Refused(_("%(vm)s is already registered to a vault.") % {"vm": vm}) from None
        item.record_state_change("registration_state", UNREGISTERED, item.registration_state, _("Register requested"))
        items.append(item)
    return jobs_per_item(vault, Operation.REGISTER, user, items)


@transaction.atomic
def start_unregister(vault, item_ids, user):
    items = pick(
        registered_unprotected_items(vault),
        item_ids,
        _("Only registered VMs that are not protected can be unregistered. Stop protection first."),
    )
    jobs = jobs_per_item(vault, Operation.UNREGISTER, user, items)
    for item in items:
        item.change_state("registration_state", RegistrationState.UNREGISTERING, _("Unregister requested"))
    return jobs


@transaction.atomic
def start_protection(vault, item_ids, user, *, policy=None, new_policy=None):
    """Protect registered VMs with an existing policy of the vault, or with a new one made here."""
    if new_policy is not None:
        policy = create_policy(vault, **new_policy)
    if policy is None or policy.vault_id != vault.pk:
        raise Refused(_("Choose a policy of this vault."))
    # Lock the policy so a concurrent delete waits for this protection to be recorded.
    policy = Policy.objects.select_for_update().get(pk=policy.pk)
    items = pick(
        registered_unprotected_items(vault),
        item_ids,
        _("Only registered VMs that are not protected can be protected."),
    )
    jobs = []
    for item in items:
        jobs += jobs_per_item(
            vault, Operation.CONFIGURE_PROTECTION, user, [item],
            parameters={"policy": policy.pk, "previous_state": item.protection_state},
        )
        item.policy = policy
        item.save(update_fields=["policy"])
        item.change_state("protection_state", ProtectionState.CONFIGURING, _("Protection requested"))
    return jobs


@transaction.atomic
def start_stop_protection(vault, item_ids, user):
    items = pick(
        vault.items.select_related("vm").filter(protection_state__in=ACTIVE_PROTECTION_STATES),
        item_ids,
        _("Only protected VMs can have their protection stopped."),
    )
    return jobs_per_item(vault, Operation.STOP_PROTECTION, user, items)


# --- Jobs, run on a worker ----------------------------------------------------------------


def discover(job):
    """Ask every VM source of the vault's subscription for the VMs in the vault's region."""
    vault = job.vault
    sources = list(vault.subscription.sources.order_by("name"))
    if not sources:
        raise JobError(ErrorCode.SOURCE_UNAVAILABLE, _("The subscription has no VM sources."))
    job.beat(done=0, total=len(sources), message=_("Asking the VM sources"))
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
            seen.append(_remember_vm(source, found))
        job.beat(done=done)
    if not reached:
        raise JobError(ErrorCode.SOURCE_UNAVAILABLE, "; ".join(problems))

    vault.discovered_vms.set(seen)
    new = VirtualMachine.objects.filter(pk__in=[vm.pk for vm in seen], registration__isnull=True).count()
    if new:
        message = ngettext(
            "Discovery found %(count)d VM that can be registered.",
            "Discovery found %(count)d VMs that can be registered.",
            new,
        ) % {"count": new}
    else:
        message = _(
            "No new VMs were found. Check that the VM exists, that it is in the vault's region "
            "(%(region)s), and that it is not already registered to a vault."
        ) % {"region": vault.region}
    if problems:
        message += " " + _("Skipped: %(problems)s") % {"problems": "; ".join(problems)}
        return JobStatus.COMPLETED_WITH_WARNINGS, message
    return JobStatus.COMPLETED, message


def _remember_vm(source, found):
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


def item_of(job):
    item = RegisteredItem.objects.filter(vm=job.vm, vault=job.vault).select_related("vm__source").first()
    if item is None:
        raise JobError(ErrorCode.ITEM_NOT_REGISTERED)
    return item


def register(job):
    """Check that the VM still exists in its source, then mark it registered."""
    item = item_of(job)
    try:
        found = item.vm.source.open().get_vm(item.vm.external_id)
    except SourceUnavailable as error:
        raise JobError(ErrorCode.SOURCE_UNAVAILABLE, str(error)) from None
    if found is None:
        raise JobError(ErrorCode.VM_NOT_FOUND)
    _remember_vm(item.vm.source, found)
    item.change_state("registration_state", RegistrationState.REGISTERED, _("Register job completed"))
    return JobStatus.COMPLETED, _("%(vm)s is registered.") % {"vm": item.vm}


def unregister(job):
    item = item_of(job)
    item.remove(_("Unregister job completed"))
    return JobStatus.COMPLETED, _("%(vm)s is unregistered.") % {"vm": job.vm}


def configure_protection(job):
    item = item_of(job)
    if item.registration_state != RegistrationState.REGISTERED:
        raise JobError(ErrorCode.ITEM_NOT_REGISTERED)
    if item.policy_id is None or item.policy_id != job.parameters.get("policy"):
        raise JobError(ErrorCode.POLICY_NOT_FOUND)
    item.protected_at = timezone.now()
    item.save(update_fields=["protected_at"])
    item.change_state("protection_state", ProtectionState.PENDING, _("Configure Protection job completed"))
    return JobStatus.COMPLETED, _("%(vm)s is protected by policy %(policy)s.") % {
        "vm": item.vm, "policy": item.policy.name
    }


def stop_protection(job):
    item = item_of(job)
    item.policy = None
    item.save(update_fields=["policy"])
    item.change_state("protection_state", ProtectionState.STOPPED, _("Stop Protection job completed"))
    return JobStatus.COMPLETED, _("Protection of %(vm)s is stopped.") % {"vm": item.vm}


# --- After a job failed -------------------------------------------------------------------


def settle_after_failure(job):
    """Put the job's item back in a state a person can act on, after its job failed or was cancelled."""
    item = RegisteredItem.objects.filter(vm_id=job.vm_id, vault_id=job.vault_id).first()
    if item is None:
        return
    reason = _("%(operation)s job did not complete") % {"operation": job.get_operation_display()}
    if job.operation == Operation.REGISTER and item.registration_state == RegistrationState.REGISTERING:
        item.remove(reason)
    elif job.operation == Operation.UNREGISTER and item.registration_state == RegistrationState.UNREGISTERING:
        item.change_state("registration_state", RegistrationState.REGISTERED, reason)
    elif job.operation == Operation.BACKUP and item.protection_state in (ProtectionState.PENDING, ProtectionState.PROTECTED):
        item.change_state("protection_state", ProtectionState.ERROR, reason)
    elif job.operation == Operation.CONFIGURE_PROTECTION and item.protection_state == ProtectionState.CONFIGURING:
        item.policy = None
        item.save(update_fields=["policy"])
        item.change_state(
            "protection_state", job.parameters.get("previous_state", ProtectionState.NOT_PROTECTED), reason
        )


def dashboard_counts(vault, since):
    """The Dashboard's numbers: the vault's items, and its jobs created since `since`."""
    recent = vault.jobs.filter(created_at__gte=since).aggregate(
        completed=Count("pk", filter=Q(status__in=[JobStatus.COMPLETED, JobStatus.COMPLETED_WITH_WARNINGS])),
        failed=Count("pk", filter=Q(status=JobStatus.FAILED)),
        in_progress=Count("pk", filter=Q(status__in=JobStatus.active())),
    )
    items = vault.items.aggregate(
        registered=Count("pk"),
        protected=Count("pk", filter=Q(protection_state__in=[ProtectionState.PENDING, ProtectionState.PROTECTED])),
        errors=Count("pk", filter=Q(protection_state=ProtectionState.ERROR)),
    )
    points = vault.recovery_points.aggregate(count=Count("pk"), protected=Sum("size"))
    protected = points["protected"] or 0
    storage = {
        "points": points["count"],
        "protected": protected,  # what all recovery points would take as plain disk images
        "used": vault.stored_bytes,
        "saved_percent": round(100 * (1 - vault.stored_bytes / protected)) if protected else 0,
        "work_files": space_held(vault.jobs.all()),  # snapshot copies on this machine, while jobs run
    }
    return {"recent": recent, "items": items, "storage": storage}


def export_vault_key(vault, user, address):
    """The vault key as a file to keep safe (the repository command line reads it); the export is recorded."""
    key = vault.key().hex()  # first: a key that cannot be unwrapped is not recorded as exported
    KeyExport.objects.create(vault=vault, user=user, address=address or None)
    return (
        "# Vaultline vault key. Keep it safe, apart from the vault's storage: whoever holds it and the storage\n"
        "# can read every backup of this vault, and without it nobody can, not even with the portal's database.\n"
        f"# vault: {vault.name} ({vault.uuid}) in {vault.subscription}\n"
        f"# storage: {vault.storage_location}\n"
        f"# exported by {user.get_username()} at {timezone.now():%Y-%m-%d %H:%M:%S %Z}\n"
        f"# read it with: python -m repository --repo <storage> --key-file <this file> list\n"
        f"{key}\n"
    )


def policy_usage(vault):
    """Policies of a vault with the number of VMs each protects."""
    return vault.policies.annotate(item_count=Count("items")).order_by("name")
