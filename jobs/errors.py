"""Job errors: a code, with the message and recommended action shown on the job page.

The job core gives its own codes (a worker lost, the broker down); the apps register theirs
with register_error_codes, so a JobError can carry any of them."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from jobs.messages import render


class CoreCode(models.TextChoices):
    WORKER_LOST = "WorkerLost", _("Worker stopped answering")
    BROKER_UNAVAILABLE = "BrokerUnavailable", _("Job could not be sent to a worker")
    QUEUE_TIMEOUT = "QueueTimeout", _("No worker picked the job up")
    INTERNAL_ERROR = "InternalError", _("Internal error")
    DATABASE_UNAVAILABLE = "DatabaseUnavailable", _("Database unreachable")


# code -> (message, recommended action)
CATALOGUE = {
    CoreCode.WORKER_LOST: (
        _("The worker running this job stopped answering before the job ended."),
        _("Check that the Vaultline workers are running, then run the operation again."),
    ),
    CoreCode.BROKER_UNAVAILABLE: (
        _("The job could not be handed to a worker: the message broker (Redis) did not answer."),
        _("Check that Redis is running and reachable at REDIS_URL, then run the operation again."),
    ),
    CoreCode.QUEUE_TIMEOUT: (
        _("The job waited in the queue and no worker picked it up."),
        _("Check that at least one Vaultline worker is running, then run the operation again."),
    ),
    CoreCode.DATABASE_UNAVAILABLE: (
        _("The portal's database stopped answering while the job ran; the job was stopped."),
        _("Check that the database is running and reachable at DATABASE_URL, then run the operation again."),
    ),
    CoreCode.INTERNAL_ERROR: (
        _("The job failed because of an unexpected error."),
        _("Run the operation again. If it fails again, send the job's details to your administrator."),
    ),
}


def catalogue_entries():
    """[(code, title, message, recommended action)] of every code the core and the apps know, by code."""
    return sorted((str(code), getattr(code, "label", str(code)), message, action)
                  for code, (message, action) in CATALOGUE.items())


def catalogue_message(code):
    """What the code says, in the current language ("" for a code no app registers any longer)."""
    entry = CATALOGUE.get(code)
    return str(entry[0]) if entry else ""


def catalogue_action(code):
    entry = CATALOGUE.get(code)
    return str(entry[1]) if entry else ""


def register_error_codes(catalogue):
    """An app's codes, each with its message and recommended action."""
    clash = set(map(str, catalogue)) & set(map(str, CATALOGUE))
    if clash:
        raise ValueError(f"Error codes registered twice: {sorted(clash)}")
    CATALOGUE.update(catalogue)


class JobError(Exception):
    """A known failure of a job: it ends Failed with this code (its message and recommended action come
    from the catalogue when shown) and what the job found (`detail`: a jobs.messages message or text)."""

    def __init__(self, code, detail=""):
        if code not in CATALOGUE:
            raise ValueError(f"Unknown error code {code!r}: register it with register_error_codes")
        self.code = str(code)
        self.message, self.recommended_action = CATALOGUE[code]
        self.detail = detail
        super().__init__(f"{self.code}: {render(detail) or self.message}")
