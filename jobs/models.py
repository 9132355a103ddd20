import contextlib
import logging
import traceback as traceback_module

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
from django.dispatch import Signal
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from jobs.choices import JobStatus
from jobs.errors import CoreCode, JobError, catalogue_action, catalogue_message
from jobs.messages import error_of, note, render
from jobs.registry import job_type, operation_choices
from portal.access import RestrictedQuerySet

log = logging.getLogger(__name__)

# Sent after a job reaches a terminal status, whoever ended it (task, reaper or signal handler):
# the vaults app listens to put an item back in a settled state when its job failed.
job_finished = Signal()

MESSAGE_RESENT = note(gettext_noop("Its message was lost on the way to a worker; sent again."))
MESSAGE_CANCEL_ASKED = note(gettext_noop("Cancel asked: the job stops at its next step."))
MESSAGE_CANCELLED = note(gettext_noop("Cancelled by a user; nothing it had started was kept."))


class JobQuerySet(RestrictedQuerySet):
    def active(self):
        return self.filter(status__in=JobStatus.active())

    def status_counts(self):
        """How many of these jobs completed (with or without warnings), failed, and are still active."""
        return self.aggregate(
            completed=models.Count("pk", filter=Q(status__in=JobStatus.succeeded())),
            failed=models.Count("pk", filter=Q(status=JobStatus.FAILED)),
            in_progress=models.Count("pk", filter=Q(status__in=JobStatus.active())),
        )

    def create_queued(self, **fields):
        """A new Queued job with its first event. Its operation must be registered (jobs.registry)."""
        (job,) = self.create_all_queued([self.model(**fields)])
        return job

    def create_all_queued(self, jobs):
        """Save these new jobs as Queued, each with its first event: two statements however many."""
        for job in jobs:
            job_type(job.operation)
            job.status = JobStatus.QUEUED
        jobs = self.bulk_create(jobs)
        JobEvent.objects.bulk_create([JobEvent(job=job, old_status="", new_status=JobStatus.QUEUED) for job in jobs])
        return jobs


class JobFacts:
    """What a job's pages and lists show of it, for a job and for an archived one alike."""

    archived = False

    @property
    def is_active(self):
        return self.status in JobStatus.active()

    @property
    def failed(self):
        return self.status == JobStatus.FAILED

    @property
    def succeeded(self):
        return self.status in JobStatus.succeeded()

    @property
    def has_warnings(self):
        return self.status == JobStatus.COMPLETED_WITH_WARNINGS

    @property
    def duration(self):
        if not self.started_at:
            return None
        return (self.finished_at or timezone.now()) - self.started_at

    @property
    def progress_message(self):
        return render(self.progress_note)

    @property
    def result_message(self):
        return render(self.result)

    @property
    def error_message(self):
        return catalogue_message(self.error_code) if self.error_code else ""

    @property
    def recommended_action(self):
        return catalogue_action(self.error_code) if self.error_code else ""

    @property
    def error_detail(self):
        return render(self.detail)

    @property
    def percent(self):
        """How far it got: 100 once it did its work; a job that failed or was cancelled shows the share it
        reached (a failed bar never reads full)."""
        if self.status in JobStatus.succeeded():
            return 100
        if not self.progress_total:
            return 0
        share = min(100, round(100 * self.progress_done / self.progress_total))
        return share if self.status not in JobStatus.unsuccessful() else min(share, 99)

    @property
    def can_cancel(self):
        return self.status in (JobStatus.QUEUED, JobStatus.IN_PROGRESS)


class Job(JobFacts, models.Model):
    vault = models.ForeignKey("vaults.Vault", on_delete=models.CASCADE, related_name="jobs")
    vm = models.ForeignKey(
        "vaults.VirtualMachine", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    # The VM's (or vault's) name when the job was made: jobs outlive the things they were about.
    entity_name = models.CharField(_("item"), max_length=100)
    operation = models.CharField(_("operation"), max_length=30, choices=operation_choices)
    status = models.CharField(_("status"), max_length=30, choices=JobStatus.choices, default=JobStatus.QUEUED)
    parameters = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("ended"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)  # its message last handed to the broker
    resends = models.PositiveSmallIntegerField(default=0)  # times its message was lost and sent again
    progress_done = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(default=0)
    # What the job says is stored as messages (jobs/messages.py) and put into words when read, in the
    # reader's language; an error code's message and recommended action come from the catalogue.
    progress_note = models.JSONField(default=dict, blank=True)
    result = models.JSONField(_("result"), default=dict, blank=True)
    error_code = models.CharField(_("error code"), max_length=40, blank=True)
    detail = models.JSONField(_("error detail"), default=dict, blank=True)  # what the job found: shown to its users
    traceback = models.TextField(_("traceback"), blank=True)  # where an unexpected error came from: staff only
    # The policy slot a scheduled backup is for: one job per item per slot, however many ticks race.
    scheduled_for = models.DateTimeField(null=True, blank=True)

    objects = JobQuerySet.as_manager()
    subscription_path = "vault__subscription"

    class Meta:
        ordering = ["-created_at", "-pk"]
        # A vault's jobs newest first, whole or by operation or status, read from an index in the Jobs
        # tab's order (newest first, then id): its pages stop after the rows they show instead of sorting
        # the vault's history (bench/portal.py --explain). The status beside the time (PostgreSQL) counts
        # the Dashboard's last day and 30 days from the index alone.
        indexes = [
            models.Index(fields=["vault", "status", "created_at"]),
            models.Index(fields=["vault", "created_at", "id"], include=["status"], name="job_vault_newest"),
            models.Index(fields=["vault", "operation", "created_at", "id"], name="job_vault_operation_newest"),
            # The reaper's sweep of active jobs and the admin's status filter, across all vaults.
            models.Index(fields=["status", "created_at"], name="job_status_newest"),
        ]
        constraints = [
            # One operation at a time on an item, and one vault-wide job of each operation at a time
            # (a discovery, a verify): the database refuses the second row, so two racing clicks
            # cannot both start.
            models.UniqueConstraint(
                fields=["vm"],
                condition=Q(status__in=JobStatus.active()) & Q(vm__isnull=False),
                name="one_active_job_per_vm",
            ),
            models.UniqueConstraint(
                fields=["vault", "operation"],
                condition=Q(status__in=JobStatus.active()) & Q(vm__isnull=True),
                name="one_active_vault_job_per_operation",
            ),
            models.UniqueConstraint(
                fields=["vm", "scheduled_for"],
                condition=Q(scheduled_for__isnull=False),
                name="one_backup_per_scheduled_slot",
            ),
        ]

    def __str__(self):
        return f"{self.get_operation_display()} – {self.entity_name}"

    def enqueue(self):
        """Send the job to a worker once the row is committed, so the worker can load it."""
        transaction.on_commit(self._send)

    def _send(self):
        Job.send_all([self])

    @classmethod
    def send_all(cls, jobs):
        """Send each job to a worker; one whose message the broker does not take fails at once. The sent
        ones are marked in one statement (a command of a thousand jobs sends a thousand messages)."""
        from portal.celery import app

        sent = []
        for job in jobs:
            try:
                app.send_task(job_type(job.operation).task, args=[job.pk])
            except Exception as exc:
                log.exception("Could not send job %s to a worker", job.pk)
                job.finish(JobStatus.FAILED, error=CoreCode.BROKER_UNAVAILABLE, traceback=repr(exc))
            else:
                sent.append(job.pk)
        cls.objects.filter(pk__in=sent).update(sent_at=timezone.now())

    def send_again(self):
        """Its message was lost (the broker restarted, a worker could not give it back): send it again.
        A second delivery of a message runs nothing twice: start() claims the job once."""
        Job.objects.filter(pk=self.pk).update(resends=F("resends") + 1)
        self.events.create(old_status=JobStatus.QUEUED, new_status=JobStatus.QUEUED, note=MESSAGE_RESENT)
        self._send()

    def start(self):
        """Queued -> In progress. Idempotent: only the call that moved the job returns True,
        so a message delivered twice never runs the work twice."""
        now = timezone.now()
        claimed = Job.objects.filter(pk=self.pk, status=JobStatus.QUEUED).update(
            status=JobStatus.IN_PROGRESS, started_at=now, heartbeat_at=now
        )
        self.refresh_from_db()
        if claimed:
            self.events.create(old_status=JobStatus.QUEUED, new_status=JobStatus.IN_PROGRESS)
        return bool(claimed)

    def beat(self, done=None, total=None, message=None):
        """Record that the worker is alive, with the progress made so far."""
        fields = {"heartbeat_at": timezone.now()}
        for name, value in (("progress_done", done), ("progress_total", total), ("progress_note", message)):
            if value is not None:
                fields[name] = value
                setattr(self, name, value)
        Job.objects.filter(pk=self.pk).update(**fields)

    def finish(self, status, *, message="", error=None, error_detail="", traceback="", only_from=None,
               silent_since=None):
        """End the job. Refuses a status that is not terminal; a job that has already ended stays as it was.

        `message` and `error_detail` are messages (jobs/messages.py). `error` is a JobError (or a registered
        error code): its code is stored, and what it found.
        `only_from` (statuses) ends it only from those (a queued job the reaper gives up on, say,
        never one that a worker started meanwhile); `silent_since` ends it only if it has not beaten since
        then (the reaper: a worker that woke up while it waited for the row is not lost). Returns True if
        this call ended the job.
        """
        if status not in JobStatus.terminal():
            raise ValueError(f"finish() needs a terminal status, not {status!r}")
        fields = {"status": status, "finished_at": timezone.now(), "result": message or {}, "traceback": traceback}
        if error is not None:
            if not isinstance(error, JobError):
                error = JobError(error)
            fields.update(error_code=error.code, detail=error_detail or error.detail or {})
        # The status, its event row and what listeners do about it (settling the item) commit together.
        with transaction.atomic():
            old_status = Job.objects.select_for_update().filter(pk=self.pk).values_list("status", flat=True).first()
            ending = Job.objects.filter(pk=self.pk, status__in=only_from or JobStatus.active())
            if silent_since is not None:
                ending = ending.filter(heartbeat_at__lt=silent_since)
            ended = ending.update(**fields)
            self.refresh_from_db()
            if ended:
                self.events.create(old_status=old_status, new_status=status,
                                   note=message or (error_of(error.code) if error is not None else {}))
                if status in JobStatus.unsuccessful():
                    # A sub-task still running when its job ended (its worker died) ended with it.
                    self.subtasks.filter(status=JobStatus.IN_PROGRESS).update(
                        status=status, finished_at=fields["finished_at"])
                job_finished.send(sender=Job, job=self)
        return bool(ended)

    @contextlib.contextmanager
    def step(self, name):
        """A sub-task of this job (e.g. "Take snapshot", its English name: shown translated): In progress
        inside the block, then Completed or Failed."""
        subtask = self.subtasks.create(name=name, status=JobStatus.IN_PROGRESS, started_at=timezone.now())
        try:
            yield subtask
        except BaseException:
            JobSubtask.objects.filter(pk=subtask.pk).update(status=JobStatus.FAILED, finished_at=timezone.now())
            raise
        JobSubtask.objects.filter(pk=subtask.pk).update(status=JobStatus.COMPLETED, finished_at=timezone.now())

    def cancel(self):
        """A user's Cancel: a queued job ends Cancelled at once; a running one becomes Cancelling and its
        worker stops at its next step (runner.JobCancelled), leaving nothing half made. Returns the
        status it moved to, or None if the job had already ended."""
        if self.finish(JobStatus.CANCELLED, message=MESSAGE_CANCELLED, only_from=[JobStatus.QUEUED]):
            return JobStatus.CANCELLED
        with transaction.atomic():
            if not Job.objects.filter(pk=self.pk, status=JobStatus.IN_PROGRESS).update(status=JobStatus.CANCELLING):
                self.refresh_from_db()
                return JobStatus.CANCELLING if self.status == JobStatus.CANCELLING else None
            self.events.create(old_status=JobStatus.IN_PROGRESS, new_status=JobStatus.CANCELLING,
                               note=MESSAGE_CANCEL_ASKED)
        self.refresh_from_db()
        return JobStatus.CANCELLING

    def fail_with_exception(self, exc):
        """End as Failed for an unexpected exception, keeping its traceback for the job page."""
        detail = "".join(traceback_module.format_exception(exc))
        return self.finish(JobStatus.FAILED, error=CoreCode.INTERNAL_ERROR, traceback=detail)

    def event_rows(self):
        """Its events, oldest first (as an archived job gives its own)."""
        return self.events.all()

    def subtask_rows(self):
        return self.subtasks.all()

    def lock_if_running(self):
        """In a transaction: lock the job's row and say whether it is still In progress. A long job's
        last commit goes through this, so a job the reaper failed (or a user cancelled) meanwhile
        changes nothing."""
        return Job.objects.select_for_update().filter(pk=self.pk, status=JobStatus.IN_PROGRESS).exists()

    def cancel_asked(self):
        return Job.objects.filter(pk=self.pk, status=JobStatus.CANCELLING).exists()


class JobSubtask(models.Model):
    """A named step of a job (Take snapshot, Transfer data to vault), with its own status and times."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="subtasks")
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=30, choices=JobStatus.choices, default=JobStatus.QUEUED)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]

    @property
    def label(self):
        return gettext(self.name)

    @property
    def is_active(self):
        return self.status in JobStatus.active()

    @property
    def duration(self):
        if not self.started_at:
            return None
        return (self.finished_at or timezone.now()) - self.started_at


class JobEvent(models.Model):
    """One change of a job's status: the job's history as rows."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    old_status = models.CharField(max_length=30, choices=JobStatus.choices, blank=True)
    new_status = models.CharField(max_length=30, choices=JobStatus.choices)
    note = models.JSONField(default=dict, blank=True)  # a message (jobs/messages.py)

    class Meta:
        ordering = ["at", "pk"]

    @property
    def message(self):
        return render(self.note)


class ArchivedJob(JobFacts, models.Model):
    """A job that ended long ago (jobs/archive.py moves it here nightly), with its events and sub-tasks
    as they were: the jobs table stays the size of the last months, and old jobs stay readable."""

    id = models.BigIntegerField(primary_key=True)  # the job's own id: its old address finds it here
    vault = models.ForeignKey("vaults.Vault", on_delete=models.CASCADE, related_name="archived_jobs")
    vm = models.ForeignKey("vaults.VirtualMachine", null=True, blank=True, on_delete=models.SET_NULL,
                           related_name="+")
    entity_name = models.CharField(_("item"), max_length=100)
    operation = models.CharField(_("operation"), max_length=30, choices=operation_choices)
    status = models.CharField(_("status"), max_length=30, choices=JobStatus.choices)
    parameters = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(_("created"))
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("ended"), null=True, blank=True)
    progress_done = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(default=0)
    progress_note = models.JSONField(default=dict, blank=True)
    result = models.JSONField(_("result"), default=dict, blank=True)
    error_code = models.CharField(_("error code"), max_length=40, blank=True)
    detail = models.JSONField(_("error detail"), default=dict, blank=True)
    traceback = models.TextField(_("traceback"), blank=True)
    events = models.JSONField(default=list)  # [{at, old_status, new_status, note}], oldest first
    subtasks = models.JSONField(default=list)  # [{name, status, started_at, finished_at}]
    archived_at = models.DateTimeField(default=timezone.now)

    objects = RestrictedQuerySet.as_manager()
    subscription_path = "vault__subscription"
    archived = True

    class Meta:
        verbose_name = _("archived job")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["vault", "created_at", "id"], name="archived_job_vault_newest")]

    def __str__(self):
        return f"{self.get_operation_display()} – {self.entity_name}"

    def event_rows(self):
        """Its events as rows (unsaved), for the pages that show a job's events."""
        return [JobEvent(job_id=self.pk, at=parse_datetime(event["at"]), old_status=event["old_status"],
                         new_status=event["new_status"], note=event["note"]) for event in self.events]

    def subtask_rows(self):
        return [JobSubtask(job_id=self.pk, name=subtask["name"], status=subtask["status"],
                           started_at=parse_datetime(subtask["started_at"] or ""),
                           finished_at=parse_datetime(subtask["finished_at"] or "")) for subtask in self.subtasks]
