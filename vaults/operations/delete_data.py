"""Delete Backup Data: after Stop Protection, every recovery point of the item goes (a job per item)."""

from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from jobs.choices import JobStatus
from jobs.errors import JobError
from jobs.runner import last_commit
from vaults import states
from vaults.choices import Operation
from vaults.errors import ErrorCode
from vaults.models import RecoveryPoint
from vaults.operations.common import (
    REPOSITORY_WAIT,
    add_stored_bytes,
    item_of,
    open_repository,
    repository_errors,
    start_per_item,
    waiting,
)


@transaction.atomic
def start_delete_backup_data(vault, item_ids, user):
    _items, jobs = start_per_item(vault, Operation.DELETE_BACKUP_DATA, item_ids, user,
                                  _("Backup data can be deleted only for VMs whose protection is stopped."))
    return jobs


def delete_backup_data(job):
    item = item_of(job)
    if item.protection_state not in states.start_states(Operation.DELETE_BACKUP_DATA):
        raise JobError(ErrorCode.PROTECTION_NOT_STOPPED)
    repo = open_repository(job.vault)
    with last_commit(job):  # a job failed while it stalled deletes nothing
        RecoveryPoint.objects.filter(vault=job.vault, vm=item.vm).delete()  # rows first, as in retention
    with repository_errors():
        # Every manifest of this VM in the repository, listed or not: a retry finishes what a crash left.
        doomed = [point["id"] for point in repo.points() if point.get("vm", {}).get("id") == item.vm.external_id]
        for point_id in doomed:
            repo.delete_point(point_id)
        freed = repo.prune(wait=REPOSITORY_WAIT, on_wait=waiting(job))
    add_stored_bytes(job.vault, -freed)
    return JobStatus.COMPLETED, ngettext(
        "Deleted %(count)d recovery point of %(vm)s; %(freed)s freed.",
        "Deleted %(count)d recovery points of %(vm)s; %(freed)s freed.",
        len(doomed),
    ) % {"count": len(doomed), "vm": item.vm, "freed": filesizeformat(freed)}
