"""Retry from a job's page: the same operation, on the same item, started again as a user would start
it (a Backup Now keeps the date it was to be kept until, a scheduled backup comes back as a Backup Now
kept the default 30 days). A replace restore is not retried from here: overwriting a VM's disks is
asked for again in the Restore wizard. A job is retried once: not after a newer job of its operation
on its item (or vault) was started, by a retry or otherwise."""

import datetime

from django.utils import timezone
from django.utils.translation import gettext as _

from jobs.choices import JobStatus
from jobs.models import Job
from portal.access import Action
from vaults.choices import Operation
from vaults.errors import Refused
from vaults.models import RecoveryPoint
from vaults.operations.backup import start_backup
from vaults.operations.discovery import start_discovery
from vaults.operations.protection import start_protection
from vaults.operations.prune import start_prune
from vaults.operations.registration import start_registration
from vaults.operations.restore import RESTORE_NEW_VM, start_restore
from vaults.operations.verify import start_verify


def _item(job):
    item = job.vault.items.filter(vm=job.vm_id).first()
    if item is None:
        raise Refused(_("%(vm)s is no longer registered with this vault.") % {"vm": job.entity_name})
    return item


def _restore(job, user):
    point = RecoveryPoint.objects.filter(vault=job.vault, pk=job.parameters.get("point")).first()
    if point is None:
        raise Refused(_("That recovery point is gone."))
    return [start_restore(job.vault, point, user, mode=RESTORE_NEW_VM, name=job.parameters.get("name", ""),
                          cloud_service=job.parameters.get("cloud_service", ""))]


def _protect(job, user):
    policy = job.vault.policies.filter(pk=job.parameters.get("policy")).first()
    return start_protection(job.vault, [_item(job).pk], user, policy=policy)


def _backup(job, user):
    chosen = job.parameters.get("retain_until")
    retain_until = datetime.datetime.fromisoformat(chosen).date() if chosen else None
    if retain_until is not None and retain_until <= timezone.localdate():
        retain_until = None  # its date has passed: the default, as a new Backup Now would have
    return start_backup(job.vault, [_item(job).pk], user, retain_until=retain_until)


# operation -> (the action it needs, how it starts again)
RETRIES = {
    Operation.BACKUP: (Action.OPERATE, _backup),
    Operation.RESTORE: (Action.OPERATE, _restore),
    Operation.DISCOVERY: (Action.OPERATE, lambda job, user: [start_discovery(job.vault, user)]),
    Operation.REGISTER: (Action.OPERATE, lambda job, user: start_registration(job.vault, [job.vm_id], user)),
    Operation.CONFIGURE_PROTECTION: (Action.OPERATE, _protect),
    Operation.VERIFY: (Action.CHANGE, lambda job, user: [start_verify(job.vault, user)]),
    Operation.PRUNE: (Action.CHANGE, lambda job, user: [start_prune(job.vault, user)]),
}


def can_retry(job):
    """The action a retry of this job needs, or None: it cannot be retried from its page."""
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED) or job.operation not in RETRIES:
        return None
    if job.operation == Operation.RESTORE and job.parameters.get("mode") != RESTORE_NEW_VM:
        return None
    if Job.objects.filter(vault=job.vault_id, vm=job.vm_id, operation=job.operation,
                          created_at__gt=job.created_at).exists():
        return None  # already run again
    return RETRIES[job.operation][0]


def start_again(job, user):
    """The jobs of the retry, or Refused (the operation's own refusals, or one that cannot be retried)."""
    if can_retry(job) is None:
        raise Refused(_("Only a failed or cancelled job that was not run again since can be retried; a replace "
                        "only from the Restore wizard."))
    return RETRIES[job.operation][1](job, user)
