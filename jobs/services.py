import contextlib
import logging
import threading
import time
import traceback as traceback_module

from django.conf import settings
from django.db import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connections,
    transaction,
)
from django.db.models import Q
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _

from jobs.choices import JobStatus
from jobs.broker import held_job_ids
from jobs.errors import ErrorCode, JobError
from jobs.models import Job
from jobs.work import sweep

log = logging.getLogger(__name__)


class JobConflict(Exception):
    """The database refused the job: another operation holds the item (or the vault's discovery)."""


def create_job(vault, operation, *, user=None, vm=None, entity_name=None, parameters=None, scheduled_for=None):
    """Create a queued job and send it to a worker when the surrounding transaction commits."""
    try:
        with transaction.atomic():
            job = Job.objects.create(
                vault=vault,
                vm=vm,
                entity_name=entity_name or (str(vm) if vm else vault.name),
                operation=operation,
                created_by=user if user and user.is_authenticated else None,
                parameters=parameters or {},
                scheduled_for=scheduled_for,
            )
            job.events.create(old_status="", new_status=JobStatus.QUEUED)
    except IntegrityError as error:
        raise JobConflict(str(error)) from error
    job.enqueue()
    return job


class Progress:
    """Reports a long job's progress (bytes done of total, rate, time left) as its heartbeat, at most
    twice a second, so the page's progress bar moves and the reaper knows the worker lives."""

    INTERVAL = 0.5

    def __init__(self, job, total, label):
        self.job, self.total, self.label = job, total, label
        self.done = 0
        self.started = time.monotonic()
        self.reported = 0.0
        job.beat(done=0, total=total, message=str(label))

    def advance(self, amount):
        self.done += amount
        now = time.monotonic()
        if now - self.reported >= self.INTERVAL or self.done >= self.total:
            self.reported = now
            elapsed = max(now - self.started, 1e-6)
            rate = self.done / elapsed
            left = (self.total - self.done) / rate if rate else 0
            self.job.beat(done=self.done, total=self.total, message=_("%(label)s: %(done)s of %(total)s, %(rate)s/s, %(left)s left") % {
                "label": self.label, "done": filesizeformat(self.done), "total": filesizeformat(self.total),
                "rate": filesizeformat(rate), "left": f"{left:.0f} s",
            })


def run_job(job_id, work, atomic=True):
    """The body of every job task: claim the job, run `work(job)`, and end the job.

    `work` returns (status, message[, warning code]) for a normal end. Its changes and the job's end commit
    together, with the job row locked, so a reaper cannot fail the job halfway through and a
    crash leaves nothing half done. With atomic=False (backups, restores: long jobs) the work
    commits as it goes, so its progress and heartbeat show while it runs; such work keeps its
    own steps safe to crash between. A JobError ends the job Failed with its code; any other
    exception ends it Failed with the traceback kept.
    """
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        log.warning("Job %s does not exist; nothing to run", job_id)
        return
    if not job.start():
        log.info("Job %s is not queued (%s); not running it again", job_id, job.status)
        return
    try:
        if not atomic:  # a long job: its progress must be seen while it runs
            with heartbeat(job):
                outcome = work(job)
            _finish(job, outcome)
            return
        with transaction.atomic():
            if not Job.objects.select_for_update().filter(pk=job.pk, status=JobStatus.IN_PROGRESS).exists():
                log.warning("Job %s ended while it was starting; not running it", job_id)
                return
            _finish(job, work(job))
    except JobError as error:
        job.finish(JobStatus.FAILED, error=error)
    except (OperationalError, InterfaceError) as exc:
        log.exception("Job %s lost the database", job_id)
        _end_when_the_database_answers(job, exc)
    except Exception as exc:  # noqa: BLE001 - any failure must end the job, with its traceback
        log.exception("Job %s failed", job_id)
        job.fail_with_exception(exc)


DATABASE_RETRY = 60  # seconds a job that lost its database tries to record that it failed


def _end_when_the_database_answers(job, exc):
    """The database went away under the job (restarted, failed over): record that, on a new
    connection, as soon as it answers again; if it does not within a minute, the reaper will."""
    detail = "".join(traceback_module.format_exception(exc))
    deadline = time.monotonic() + DATABASE_RETRY
    while True:
        close_old_connections()
        try:
            job.finish(JobStatus.FAILED, error=ErrorCode.DATABASE_UNAVAILABLE, traceback=detail)
            return
        except (OperationalError, InterfaceError):
            if time.monotonic() > deadline:
                log.warning("Job %s: the database did not answer again; the reaper will end it", job.pk)
                return
            time.sleep(1)


def _finish(job, outcome):
    """`outcome` is (status, message), or (status, message, warning code) for Completed with warnings."""
    status, message, *warning = outcome
    if not job.finish(status, message=message, error=warning[0] if warning else None):
        log.warning("Job %s had already ended (%s) when its work finished: %s", job.pk, job.status, message)


@contextlib.contextmanager
def heartbeat(job):
    """Beat for a long job on a timer thread, whatever its work is doing (a long copy, a prune),
    so the reaper fails it only if the worker itself is gone."""
    stop = threading.Event()
    interval = max(1.0, settings.JOB_HEARTBEAT_TIMEOUT.total_seconds() / 5)

    def beat():
        while not stop.wait(interval):
            try:
                Job.objects.filter(pk=job.pk, status=JobStatus.IN_PROGRESS).update(heartbeat_at=timezone.now())
            except Exception:  # noqa: BLE001 - one missed beat (a locked or dropped database) is not the end
                log.warning("Heartbeat of job %s missed", job.pk, exc_info=True)
                connections.close_all()
        connections.close_all()

    thread = threading.Thread(target=beat, name=f"heartbeat-{job.pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


MAX_RESENDS = 3  # a job whose message was lost this often is failed instead


def resend_lost_jobs(now=None):
    """Send again the queued jobs the broker no longer holds a message for (sent a while ago, and not
    in any queue nor reserved by a worker); fail those lost too often. Returns how many were resent."""
    from portal.celery import app

    now = now or timezone.now()
    waiting = list(Job.objects.filter(status=JobStatus.QUEUED).filter(
        Q(sent_at__lt=now - settings.JOB_LOST_MESSAGE_AFTER)
        | Q(sent_at__isnull=True, created_at__lt=now - settings.JOB_LOST_MESSAGE_AFTER)))
    if not waiting:
        return 0
    held = held_job_ids(app)
    if held is None:
        return 0
    resent = 0
    for job in waiting:
        if job.pk in held:
            continue
        if job.resends >= MAX_RESENDS:
            job.finish(JobStatus.FAILED, error=ErrorCode.QUEUE_TIMEOUT, only_from=[JobStatus.QUEUED])
            continue
        log.warning("Job %s is queued but its message is not in the broker: sending it again", job.pk)
        job.send_again()
        resent += 1
    return resent


def reap_stale_jobs(now=None):
    """Fail the running jobs whose worker stopped sending heartbeats, and the queued jobs no
    worker picked up (a lost message). Returns how many it ended."""
    now = now or timezone.now()
    try:
        resend_lost_jobs(now)
    except Exception:  # noqa: BLE001 - the reaping below must happen whatever the broker does
        log.exception("Could not send lost jobs again")
    lost = [
        (job, ErrorCode.WORKER_LOST)
        for job in Job.objects.filter(
            status__in=[JobStatus.IN_PROGRESS, JobStatus.CANCELLING],
            heartbeat_at__lt=now - settings.JOB_HEARTBEAT_TIMEOUT,
        )
    ] + [
        (job, ErrorCode.QUEUE_TIMEOUT)
        for job in Job.objects.filter(status=JobStatus.QUEUED, created_at__lt=now - settings.JOB_QUEUE_TIMEOUT)
    ]
    reaped = 0
    for job, code in lost:
        try:
            # Only from the status it was judged in: a queued job a worker took meanwhile is no longer lost.
            reaped += job.finish(JobStatus.FAILED, error=code, only_from=[job.status])
        except Exception:  # noqa: BLE001 - one bad job must not keep the others from being reaped
            log.exception("Could not reap job %s", job.pk)
    sweep()  # the work files of the jobs that ended without their worker
    return reaped
