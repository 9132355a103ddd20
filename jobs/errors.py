"""Job error codes, each with the message and recommended action shown on the job page."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ErrorCode(models.TextChoices):
    SOURCE_UNAVAILABLE = "SourceUnavailable", _("VM source unreachable")
    VM_NOT_FOUND = "VMNotFound", _("VM not found")
    VM_ALREADY_REGISTERED = "VMAlreadyRegistered", _("VM already registered")
    ITEM_NOT_REGISTERED = "ItemNotRegistered", _("Item not registered")
    POLICY_NOT_FOUND = "PolicyNotFound", _("Policy not found")
    WORKER_LOST = "WorkerLost", _("Worker stopped answering")
    BROKER_UNAVAILABLE = "BrokerUnavailable", _("Job could not be sent to a worker")
    QUEUE_TIMEOUT = "QueueTimeout", _("No worker picked the job up")
    INTERNAL_ERROR = "InternalError", _("Internal error")


# code -> (message, recommended action)
CATALOGUE = {
    ErrorCode.SOURCE_UNAVAILABLE: (
        _("The VM source could not be reached."),
        _("Check that the VM source's folder or host is available, then run the operation again."),
    ),
    ErrorCode.VM_NOT_FOUND: (
        _("The VM no longer exists in its source."),
        _("Run Discover to refresh the list of VMs, then try again."),
    ),
    ErrorCode.VM_ALREADY_REGISTERED: (
        _("The VM is already registered to a vault."),
        _("A VM can belong to one vault only. Unregister it from the other vault first."),
    ),
    ErrorCode.ITEM_NOT_REGISTERED: (
        _("The VM is not registered to this vault."),
        _("Register the VM with the vault, then configure protection."),
    ),
    ErrorCode.POLICY_NOT_FOUND: (
        _("The backup policy no longer exists."),
        _("Choose another policy and configure protection again."),
    ),
    ErrorCode.WORKER_LOST: (
        _("The worker running this job stopped answering before the job ended."),
        _("Check that the Vaultline workers are running, then run the operation again."),
    ),
    ErrorCode.BROKER_UNAVAILABLE: (
        _("The job could not be handed to a worker: the message broker (Redis) did not answer."),
        _("Check that Redis is running and reachable at REDIS_URL, then run the operation again."),
    ),
    ErrorCode.QUEUE_TIMEOUT: (
        _("The job waited in the queue and no worker picked it up."),
        _("Check that at least one Vaultline worker is running, then run the operation again."),
    ),
    ErrorCode.INTERNAL_ERROR: (
        _("The job failed because of an unexpected error."),
        _("Run the operation again. If it fails again, send the job's details to your administrator."),
    ),
}


class JobError(Exception):
    """A known failure of a job: it ends Failed with this code, its message and recommended action."""

    def __init__(self, code, detail=""):
        self.code = ErrorCode(code)
        self.message, self.recommended_action = CATALOGUE[self.code]
        self.detail = detail
        super().__init__(f"{self.code}: {detail or self.message}")
