"""The end of an item's data. Delete Backup Data (after Stop Protection, or with it) soft deletes:
every recovery point stays in the repository, unlisted for restore, until the vault's soft-delete
days have passed; Undelete brings the item back to Protection stopped with every point restorable;
a daily Purge job per expired item removes the rows, the manifests and the data no other point needs.

In an immutable vault no point goes before the date its rules promised (promised_dates).
"""

import datetime

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from jobs.choices import JobStatus
from jobs.errors import JobError
from jobs.messages import moment, note, plural_note, render, size
from jobs.queue import create_job_if_free
from jobs.runner import last_commit
from vaults import states
from vaults.choices import Operation, ProtectionState
from vaults.errors import ErrorCode, Refused
from vaults.models import RecoveryPoint, RegisteredItem, Vault
from vaults.operations.common import (
    REPOSITORY_WAIT,
    add_stored_bytes,
    item_of,
    item_state_changed,
    open_repository,
    pick,
    repository_errors,
    start_per_item,
    waiting,
)
from vaults.retention import promised_until

MAX_REASON_LENGTH = 200


def check_deletion(vault, items, typed_name, reason):
    """Refused unless the user typed the (one) VM's name, gave a reason that fits, and an immutable vault
    holds none of its points past today. Returns the reason, trimmed."""
    if len(items) != 1:
        raise Refused(_("Delete the backup data of one VM at a time."))
    item = items[0]
    if typed_name.strip() != item.vm.name:
        raise Refused(_("Type the VM's name, %(name)s, to delete its backup data.") % {"name": item.vm.name})
    reason = reason.strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise Refused(_("The reason has at most %(count)d characters.") % {"count": MAX_REASON_LENGTH})
    check_not_immutable(vault, item)
    return reason


def promised_dates(item, now=None):
    """The dates past `now` until which the item's points are promised: by its policy's rules while it
    is protected, by each point's own date once protection stopped (keep_promised_dates)."""
    now = now or timezone.now()
    points = list(RecoveryPoint.objects.filter(vault=item.vault_id, vm=item.vm_id))
    return sorted(date for date in promised_until(points, item.policy).values() if date is not None and date > now)


def check_not_immutable(vault, item):
    refusal = immutable_refusal(vault, item)
    if refusal:
        raise Refused(render(refusal))


def immutable_refusal(vault, item):
    """Why an immutable vault keeps the item's data (a message), or None."""
    if not vault.immutable:
        return None
    promised = promised_dates(item)
    if not promised:
        return None
    return plural_note(
        "%(vault)s is immutable: %(count)d recovery point of %(vm)s is kept until %(date)s and cannot be "
        "deleted before.",
        "%(vault)s is immutable: %(count)d recovery points of %(vm)s are kept until as late as %(date)s and "
        "cannot be deleted before.", "count",
        vault=vault.name, count=len(promised), vm=item.vm.name, date=moment(promised[-1], "DATE_FORMAT"))


@transaction.atomic
def start_delete_backup_data(vault, item_ids, user, *, typed_name="", reason=""):
    items = pick(states.startable(vault.items.select_related("vm"), Operation.DELETE_BACKUP_DATA), item_ids,
                 _("Backup data can be deleted only for VMs whose protection is stopped."))
    reason = check_deletion(vault, items, typed_name, reason)
    _items, jobs = start_per_item(vault, Operation.DELETE_BACKUP_DATA, item_ids, user, "", {"reason": reason})
    return jobs


def soft_delete(job, item, reason):
    """Move a stopped item to Soft deleted until the vault's days have passed (in the job's last commit)."""
    purge_after = timezone.now() + datetime.timedelta(days=job.vault.soft_delete_days)
    if not states.move(item, Operation.DELETE_BACKUP_DATA, states.SUCCESS, _("Backup data deleted"),
                       purge_after=purge_after, deletion_reason=reason[:MAX_REASON_LENGTH]):
        raise item_state_changed(item)
    count = RecoveryPoint.objects.filter(vault=job.vault, vm=item.vm).count()
    return plural_note(
        "%(count)d recovery point of %(vm)s is soft deleted; it is purged after %(date)s, and can be "
        "undeleted until then.",
        "%(count)d recovery points of %(vm)s are soft deleted; they are purged after %(date)s, and can be "
        "undeleted until then.", "count", count=count, vm=str(item.vm), date=moment(purge_after, "DATE_FORMAT"))


def delete_backup_data(job):
    item = item_of(job)
    if item.protection_state not in states.start_states(Operation.DELETE_BACKUP_DATA):
        raise JobError(ErrorCode.PROTECTION_NOT_STOPPED)
    check_immutable_in_job(job, item)
    return JobStatus.COMPLETED, soft_delete(job, item, job.parameters.get("reason", ""))


def check_immutable_in_job(job, item):
    """The vault may have become immutable since the job was queued: it refuses then too."""
    job.vault.refresh_from_db(fields=["immutable"])
    refusal = immutable_refusal(job.vault, item)
    if refusal:
        raise JobError(ErrorCode.VAULT_IMMUTABLE, refusal)


@transaction.atomic
def start_undelete(vault, item_ids, user):
    _items, jobs = start_per_item(vault, Operation.UNDELETE, item_ids, user,
                                  _("Only soft-deleted VMs can be undeleted."))
    return jobs


def undelete(job):
    item = item_of(job)
    if not states.move(item, Operation.UNDELETE, states.SUCCESS, _("Backup data undeleted"),
                       purge_after=None, deletion_reason=""):
        raise item_state_changed(item)
    count = RecoveryPoint.objects.filter(vault=job.vault, vm=item.vm).count()
    return JobStatus.COMPLETED, plural_note(
        "%(count)d recovery point of %(vm)s is back; protection stays stopped until you protect it again.",
        "%(count)d recovery points of %(vm)s are back; protection stays stopped until you protect it again.",
        "count", count=count, vm=str(item.vm))


def purge_expired(now=None):
    """Beat's daily tick: a Purge job for each soft-deleted item whose days have passed."""
    expired = RegisteredItem.objects.filter(protection_state=ProtectionState.SOFT_DELETED,
                                            purge_after__lte=now or timezone.now()).select_related("vault", "vm")
    jobs = (create_job_if_free(item.vault, Operation.PURGE, vm=item.vm) for item in expired)
    return [job for job in jobs if job is not None]


def purge(job):
    """The rows, then the manifests they named, then the data no other point needs. Only an item still
    soft deleted and past its date: one undeleted meanwhile is left alone. An immutable vault holding a
    point past its promised date postpones the purge to that date."""
    item = item_of(job)
    if item.protection_state != ProtectionState.SOFT_DELETED or item.purge_after > timezone.now():
        raise item_state_changed(item)
    job.vault.refresh_from_db(fields=["immutable"])
    promised = promised_dates(item) if job.vault.immutable else []
    if promised:
        RegisteredItem.objects.filter(pk=item.pk).update(purge_after=promised[-1])
        return JobStatus.COMPLETED_WITH_WARNINGS, note(
            "%(vault)s is immutable and keeps recovery points of %(vm)s until %(date)s: the purge waits until "
            "then.", vault=job.vault.name, vm=str(item.vm), date=moment(promised[-1], "DATE_FORMAT"))
    repo = open_repository(job.vault)
    with last_commit(job):  # a job failed while it stalled deletes nothing
        points = RecoveryPoint.objects.filter(vault=job.vault, vm=item.vm)
        doomed = list(points.values_list("point_id", flat=True))
        doomed_size = points.aggregate(total=Sum("size"))["total"] or 0
        points.delete()
        Vault.add_points(job.vault_id, -len(doomed), -doomed_size)
        if not states.move(item, Operation.PURGE, states.SUCCESS, _("Deleted backup data purged"),
                           purge_after=None):
            raise item_state_changed(item)
    with repository_errors():
        # Only the manifests the rows named (a manifest names its VM by the source's id, which another
        # source of the vault may share). One left by a crash stays unlisted, and Verify names it.
        for point_id in doomed:
            repo.delete_point(point_id)
        freed = repo.prune(wait=REPOSITORY_WAIT, on_wait=waiting(job, cancellable=False))  # past its last commit
    add_stored_bytes(job.vault, -freed)
    return JobStatus.COMPLETED, plural_note(
        "Purged %(count)d recovery point of %(vm)s; %(freed)s freed.",
        "Purged %(count)d recovery points of %(vm)s; %(freed)s freed.",
        "count", count=len(doomed), vm=str(item.vm), freed=size(freed))
