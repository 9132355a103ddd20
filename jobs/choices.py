from django.db import models
from django.utils.translation import gettext_lazy as _


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    IN_PROGRESS = "in_progress", _("In progress")
    COMPLETED = "completed", _("Completed")
    COMPLETED_WITH_WARNINGS = "completed_with_warnings", _("Completed with warnings")
    FAILED = "failed", _("Failed")
    CANCELLING = "cancelling", _("Cancelling")  # a user asked; its worker stops at its next step
    CANCELLED = "cancelled", _("Cancelled")

    @classmethod
    def active(cls):
        return [cls.QUEUED, cls.IN_PROGRESS, cls.CANCELLING]

    @classmethod
    def terminal(cls):
        return [cls.COMPLETED, cls.COMPLETED_WITH_WARNINGS, cls.FAILED, cls.CANCELLED]

    @classmethod
    def succeeded(cls):
        """Ended having done its work (with or without warnings)."""
        return [cls.COMPLETED, cls.COMPLETED_WITH_WARNINGS]

    @classmethod
    def unsuccessful(cls):
        """Ended without doing its work: what the job was about goes back to a settled state."""
        return [cls.FAILED, cls.CANCELLED]
