"""Prune: space comes back. Retention after each backup only forgets recovery points (rows, then
manifests); a per-vault Prune job, run by beat once a night and on demand from the Dashboard,
deletes the packs no point needs and repacks the mostly dead ones. It holds the repository's lock
alone: it waits for the running backups, a backup that starts meanwhile waits (and says so), and
nothing a backup wrote or will build on is removed."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from jobs.choices import JobStatus
from jobs.messages import note, size
from jobs.queue import create_job_if_free
from jobs.runner import JobCancelled, Progress
from vaults.choices import Operation
from vaults.models import StorageSample, Vault
from vaults.operations.common import (
    REPOSITORY_WAIT,
    add_stored_bytes,
    open_repository,
    repository_errors,
    start_vault_job,
    waiting,
)


def start_prune(vault, user):
    return start_vault_job(vault, Operation.PRUNE, user, _("Another Prune operation is already in progress."))


def prune_every_vault():
    """Beat's nightly tick: a Prune job for each vault (one already running is left to finish)."""
    jobs = (create_job_if_free(vault, Operation.PRUNE) for vault in Vault.objects.all())
    return [job for job in jobs if job is not None]


def prune(job):
    repo = open_repository(job.vault)
    progress = Progress(job, 0, gettext_noop("Collecting the data no recovery point needs"))
    with repository_errors():
        try:
            freed = repo.prune(wait=REPOSITORY_WAIT, on_wait=waiting(job), progress=progress)
        except JobCancelled:  # stopped between two packs: count what the storage holds now
            Vault.objects.filter(pk=job.vault.pk).update(stored_bytes=repo.stored_bytes())
            StorageSample.record(job.vault.pk)
            raise
    add_stored_bytes(job.vault, -freed)
    return JobStatus.COMPLETED, note("%(freed)s freed.", freed=size(freed))
