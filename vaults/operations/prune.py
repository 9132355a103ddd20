"""Prune: space comes back. Retention after each backup only forgets recovery points (rows, then
manifests); a per-vault Prune job, run by beat once a night and on demand from the Dashboard,
deletes the packs no point needs and repacks the mostly dead ones. It holds the vault's writer lock,
so a backup that starts meanwhile waits (and says so), and nothing a backup wrote or will build on
is removed."""

from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from jobs.choices import JobStatus
from jobs.queue import JobConflict, create_job
from vaults.choices import Operation
from vaults.errors import Refused
from vaults.models import Vault
from vaults.operations.common import REPOSITORY_WAIT, add_stored_bytes, open_repository, repository_errors, waiting


def start_prune(vault, user):
    try:
        return create_job(vault, Operation.PRUNE, user=user)
    except JobConflict:
        raise Refused(_("Another Prune operation is already in progress.")) from None


def prune_every_vault():
    """Beat's nightly tick: a Prune job for each vault (one already running is left to finish)."""
    started = []
    for vault in Vault.objects.all():
        try:
            with transaction.atomic():
                started.append(create_job(vault, Operation.PRUNE))
        except JobConflict:
            continue
    return started


def prune(job):
    repo = open_repository(job.vault)
    job.beat(message=_("Collecting the data no recovery point needs"))
    with repository_errors():
        freed = repo.prune(wait=REPOSITORY_WAIT, on_wait=waiting(job))
    add_stored_bytes(job.vault, -freed)
    return JobStatus.COMPLETED, _("%(freed)s freed.") % {"freed": filesizeformat(freed)}
