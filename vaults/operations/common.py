"""What the operations share: picking the rows a command names, one job per item, the item a job
is about, and the repository's and VM source's failures as job errors."""

import contextlib

from django.db.models import F
from django.db.models.functions import Greatest
from django.utils.translation import gettext as _

from jobs.errors import JobError
from jobs.messages import note
from jobs.queue import JobConflict, create_job, create_jobs
from jobs.runner import JobCancelled
from repository import DamagedData, PointNotFound, RepositoryError
from sources import SourceUnavailable
from sources.base import SnapshotError
from vaults import states
from vaults.errors import ErrorCode, Refused
from vaults.keys import KeyUnavailable
from vaults.models import RegisteredItem, StorageSample, Vault

# How long a job waits for the vault's repository while another job of the same vault writes.
REPOSITORY_WAIT = 3600

SNAPSHOT_ERRORS = {
    SnapshotError.VM_NOT_FOUND: ErrorCode.VM_NOT_FOUND,
    SnapshotError.VM_NOT_RUNNING: ErrorCode.VM_NOT_RUNNING,
    SnapshotError.VM_RUNNING: ErrorCode.VM_RUNNING,
    SnapshotError.VM_NAME_TAKEN: ErrorCode.VM_NAME_TAKEN,
    SnapshotError.EXTENSION_NOT_ANSWERING: ErrorCode.EXTENSION_NOT_ANSWERING,
    SnapshotError.SNAPSHOT_TIMEOUT: ErrorCode.SNAPSHOT_TIMEOUT,
    SnapshotError.DISK_REFUSED: ErrorCode.DISK_REFUSED,
}


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
        return create_jobs(vault, operation, [item.vm for item in items], user=user, parameters=parameters)
    except JobConflict:
        raise Refused(_("Another operation is in progress on one of the selected VMs. Try again when it ends.")) from None


def start_vault_job(vault, operation, user, refusal):
    """One job of `operation` for the whole vault (Discover, Verify, Prune), or Refused with `refusal`
    while another one runs (the database allows one at a time)."""
    try:
        return create_job(vault, operation, user=user)
    except JobConflict:
        raise Refused(refusal) from None


def start_per_item(vault, operation, item_ids, user, refusal, parameters=None):
    """(items, their jobs): one job of `operation` per chosen item of the vault that the operation may
    start on (states.TRANSITIONS), or Refused with `refusal` if any chosen item may not."""
    items = pick(states.startable(vault.items.select_related("vm"), operation), item_ids, refusal)
    return items, jobs_per_item(vault, operation, user, items, parameters)


def item_of(job):
    """The registered item the job is about; ItemNotRegistered if there is none."""
    item = RegisteredItem.objects.filter(vm=job.vm, vault=job.vault).select_related("vm__source", "policy").first()
    if item is None:
        raise JobError(ErrorCode.ITEM_NOT_REGISTERED)
    return item


def item_state_changed(item):
    return JobError(ErrorCode.ITEM_STATE_CHANGED, note("%(vm)s is no longer in the state this job started from.",
                                                       vm=str(item.vm)))


@contextlib.contextmanager
def repository_errors():
    """The repository's failures as job errors, each with its code."""
    try:
        yield
    except KeyUnavailable as error:
        raise JobError(ErrorCode.KEY_UNAVAILABLE, str(error)) from None
    except DamagedData as error:
        raise JobError(ErrorCode.DAMAGED_DATA, str(error)) from None
    except PointNotFound as error:
        raise JobError(ErrorCode.RECOVERY_POINT_NOT_FOUND, str(error)) from None
    except (RepositoryError, OSError) as error:  # locked, unreachable, wrong key, disk errors
        raise JobError(ErrorCode.STORAGE_UNAVAILABLE, str(error)) from None


@contextlib.contextmanager
def source_errors():
    """The VM source's failures as job errors, each with its code."""
    try:
        yield
    except SnapshotError as error:
        raise JobError(SNAPSHOT_ERRORS[error.code], str(error)) from None
    except SourceUnavailable as error:
        raise JobError(ErrorCode.SOURCE_UNAVAILABLE, str(error)) from None


def open_repository(vault):
    with repository_errors():
        return vault.repository()


def waiting(job, cancellable=True):
    """What a job does while another job of its vault holds the repository: says so, beats, and stops
    (JobCancelled) if a user cancelled it meanwhile and it still can stop."""
    def on_wait():
        if cancellable and job.cancel_asked():
            raise JobCancelled(f"Job {job.pk} was cancelled while it waited")
        job.beat(message=note("Waiting for the vault's storage"))
    return on_wait


def add_stored_bytes(vault, change):
    """Keep the vault's storage used as a running total (Verify counts it afresh), in the database
    so two jobs of one vault cannot overwrite each other's change."""
    Vault.objects.filter(pk=vault.pk).update(stored_bytes=Greatest(F("stored_bytes") + change, 0))
    StorageSample.record(vault.pk)
