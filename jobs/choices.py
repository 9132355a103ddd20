from django.db import models
from django.utils.translation import gettext_lazy as _


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    IN_PROGRESS = "in_progress", _("In progress")
    COMPLETED = "completed", _("Completed")
    COMPLETED_WITH_WARNINGS = "completed_with_warnings", _("Completed with warnings")
    FAILED = "failed", _("Failed")
    CANCELLING = "cancelling", _("Cancelling")
    CANCELLED = "cancelled", _("Cancelled")

    @classmethod
    def active(cls):
        return [cls.QUEUED, cls.IN_PROGRESS, cls.CANCELLING]

    @classmethod
    def terminal(cls):
        return [cls.COMPLETED, cls.COMPLETED_WITH_WARNINGS, cls.FAILED, cls.CANCELLED]


class Operation(models.TextChoices):
    DISCOVERY = "discovery", _("Discovery")
    REGISTER = "register", _("Register")
    UNREGISTER = "unregister", _("Unregister")
    CONFIGURE_PROTECTION = "configure_protection", _("Configure Protection")
    BACKUP = "backup", _("Backup")
    RESTORE = "restore", _("Restore")
    STOP_PROTECTION = "stop_protection", _("Stop Protection")
    DELETE_BACKUP_DATA = "delete_backup_data", _("Delete Backup Data")
    VERIFY = "verify", _("Verify")
    PRUNE = "prune", _("Prune")
