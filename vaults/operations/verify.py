"""Verify: read and check every chunk the vault's recovery points need, recount the storage used,
and name the points any damage affects."""

import datetime

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from jobs.choices import JobStatus
from jobs.errors import JobError
from jobs.messages import joined, listed, moment, note, plural_note
from jobs.queue import create_job_if_free
from jobs.runner import Progress
from vaults.choices import Operation
from vaults.errors import ErrorCode
from vaults.models import StorageSample, Vault
from vaults.operations.common import open_repository, repository_errors, start_vault_job


def start_verify(vault, user):
    return start_vault_job(vault, Operation.VERIFY, user, _("Another Verify operation is already in progress."))


def verify_the_vaults_due(now=None):
    """Beat's daily tick: a Verify job for each vault whose weekly verify falls on today (UTC)."""
    today = (now or timezone.now()).astimezone(datetime.timezone.utc).weekday()
    # A vault whose verify still runs gets none: that one reads everything anyway.
    jobs = (create_job_if_free(vault, Operation.VERIFY) for vault in Vault.objects.filter(verify_weekday=today))
    return [job for job in jobs if job is not None]


def verify(job):
    repo = open_repository(job.vault)
    progress = Progress(job, 0, gettext_noop("Reading every chunk the recovery points need"))
    with repository_errors():
        report = repo.verify(progress=progress)  # a cancel stops it between two packs: it only reads
        Vault.objects.filter(pk=job.vault.pk).update(stored_bytes=repo.stored_bytes())  # the running total, afresh
        Vault.recount_points(job.vault_id)
        StorageSample.record(job.vault.pk)
    known = {point.point_id: point for point in job.vault.recovery_points.select_related("vm")}
    checked_at, affected = timezone.now(), set(report.affected_points)
    points = job.vault.recovery_points.filter(point_id__in=[point_id for point_id in report.points if point_id in known])
    points.exclude(point_id__in=affected).update(verified_at=checked_at, verified_ok=True)
    points.filter(point_id__in=affected).update(verified_at=checked_at, verified_ok=False)
    # A backup that died between committing its point and recording it leaves a point the portal does not list.
    unlisted = [point_id for point_id in report.points if point_id not in known]
    if report.ok:
        message = plural_note(
            "%(count)d recovery point verified: %(chunks)d chunks read and checked.",
            "%(count)d recovery points verified: %(chunks)d chunks read and checked.",
            "count", count=len(report.points), chunks=report.chunks_checked)
        if unlisted:
            return JobStatus.COMPLETED_WITH_WARNINGS, joined(message, plural_note(
                "%(count)d of them is not listed in the portal (a backup stopped before recording it).",
                "%(count)d of them are not listed in the portal (backups stopped before recording them).",
                "count", count=len(unlisted)))
        return JobStatus.COMPLETED, message
    if not report.affected_points:  # only index objects damaged: the packs' own headers serve
        return JobStatus.COMPLETED_WITH_WARNINGS, note(
            "Every chunk checked, but some index objects are damaged: %(names)s",
            names=", ".join(sorted(report.damaged_objects)))
    affected = [note("%(vm)s %(time)s", vm=str(known[point_id].vm), time=moment(known[point_id].created_at))
                for point_id in report.affected_points if point_id in known]
    detail = "; ".join(f"{name}: {reason}" for name, reason in sorted(report.damaged_objects.items()))
    raise JobError(ErrorCode.DAMAGED_DATA, note(
        "Affected recovery points: %(points)s. Damage: %(detail)s",
        points=listed(*affected) if affected else note("none listed"), detail=detail))
