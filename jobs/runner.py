"""What runs around every job's work on a worker: claiming it once, its heartbeat and progress,
and its end, whatever the work did."""

import contextlib
import logging
import threading
import time
import traceback as traceback_module

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connections, transaction
from django.utils import timezone

from jobs.choices import JobStatus
from jobs.errors import CoreCode, JobError
from jobs.messages import note, seconds, size
from jobs.models import MESSAGE_CANCELLED, Job

log = logging.getLogger(__name__)


class Progress:
    """Reports a long job's progress (bytes done of total, rate, time left) as its heartbeat, at most
    twice a second, so the page's progress bar moves and the reaper knows the worker lives."""

    INTERVAL = 0.5

    def __init__(self, job, total, label):
        """`label`: what is being done, in English (a msgid: shown translated)."""
        self.job, self.total, self.label = job, total, label
        self.done = 0
        self.started = time.monotonic()
        self.reported = 0.0
        job.beat(done=0, total=total, message=note(label))

    def restart(self, total):
        """Count again from nothing towards a new total (one known only once the work is listed)."""
        self.total, self.done, self.started = total, 0, time.monotonic()
        self.job.beat(done=0, total=total, message=note(self.label))

    def advance(self, amount):
        """Count `amount` more done; at each report, stop (JobCancelled) if a user cancelled the job."""
        self.done += amount
        now = time.monotonic()
        if now - self.reported >= self.INTERVAL or self.done >= self.total:
            self.reported = now
            if self.job.cancel_asked():
                raise JobCancelled(f"Job {self.job.pk} was cancelled")
            elapsed = max(now - self.started, 1e-6)
            rate = self.done / elapsed
            left = (self.total - self.done) / rate if rate else 0
            self.job.beat(done=self.done, total=self.total, message=note(
                "%(label)s: %(done)s of %(total)s, %(rate)s/s, %(left)s left", label=note(self.label),
                done=size(self.done), total=size(self.total), rate=size(rate), left=seconds(left)))


class JobCancelled(Exception):
    """A user cancelled the job while it ran: its work stops here and keeps nothing."""


class JobEnded(Exception):
    """The job was ended meanwhile (the reaper failed it while its worker stalled): its work stops
    and commits nothing more."""


@contextlib.contextmanager
def last_commit(job):
    """A long job's final changes (its recovery point, its item's new state): they commit together,
    and only while the job is still In progress; otherwise nothing is changed and JobEnded is raised."""
    with transaction.atomic():
        if not job.lock_if_running():
            raise JobEnded(f"Job {job.pk} ended before its work did")
        yield


def ensure_running(job):
    """Before a long job does what cannot be taken back (installing restored disks): JobEnded if the job
    was ended meanwhile."""
    if not Job.objects.filter(pk=job.pk, status=JobStatus.IN_PROGRESS).exists():
        raise JobEnded(f"Job {job.pk} ended before its work did")


def run_job(job_id, work, atomic=True):
    """The body of every job task: claim the job, run `work(job)`, and end the job.

    `work` returns (status, message[, warning code]) for a normal end. Its changes and the job's end commit
    together, with the job row locked, so a reaper cannot fail the job halfway through and a
    crash leaves nothing half done. With atomic=False (backups, restores: long jobs) the work
    commits as it goes, so its progress and heartbeat show while it runs; such work keeps its
    own steps safe to crash between, and makes its last changes through last_commit(). A JobError
    ends the job Failed with its code; any other exception ends it Failed with the traceback kept.
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
        with last_commit(job):
            _finish(job, work(job))
    except JobCancelled:
        _end_cancelled(job)
    except JobEnded:
        job.refresh_from_db()
        if job.status == JobStatus.CANCELLING:  # cancelled just before its last commit: that commit did not happen
            _end_cancelled(job)
        else:
            log.warning("Job %s was ended (%s) while its work ran; its work changed nothing", job_id, job.status)
    except JobError as error:
        job.finish(JobStatus.FAILED, error=error)
    except (OperationalError, InterfaceError) as exc:
        log.exception("Job %s lost the database", job_id)
        _end_when_the_database_answers(job, exc)
    except Exception as exc:
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
            job.finish(JobStatus.FAILED, error=CoreCode.DATABASE_UNAVAILABLE, traceback=detail)
            return
        except (OperationalError, InterfaceError):
            if time.monotonic() > deadline:
                log.warning("Job %s: the database did not answer again; the reaper will end it", job.pk)
                return
            time.sleep(1)


def _end_cancelled(job):
    job.finish(JobStatus.CANCELLED, message=MESSAGE_CANCELLED, only_from=[JobStatus.CANCELLING])


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
                Job.objects.filter(pk=job.pk, status__in=[JobStatus.IN_PROGRESS, JobStatus.CANCELLING]).update(
                    heartbeat_at=timezone.now())
            except Exception:
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
