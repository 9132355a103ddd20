"""An audit entry: one command, refusal or sign-in. It keeps ids and names, not foreign keys, so it
outlives the users, vaults and subscriptions it names; nothing in the application updates or deletes it."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AppendOnly(Exception):
    """The audit log is only ever added to."""


class Outcome(models.TextChoices):
    SUCCEEDED = "succeeded", _("Succeeded")
    # Allowed, but the state of things or the input refused it (the message says why).
    REFUSED = "refused", _("Refused")
    # The user's role does not allow it, or the sign-in failed.
    DENIED = "denied", _("Not allowed")
    # The server failed.
    FAILED = "failed", _("Failed")


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnly("Audit entries are never changed")

    def delete(self):
        raise AppendOnly("Audit entries are never deleted")

    def _raw_delete(self, using):
        raise AppendOnly("Audit entries are never deleted")


class AuditEntry(models.Model):
    at = models.DateTimeField(_("time"), default=timezone.now)
    # Who: the user's id and name as they were (a failed sign-in keeps the name that was typed).
    user_id = models.BigIntegerField(null=True, blank=True)
    username = models.CharField(_("user"), max_length=150, blank=True)
    token_name = models.CharField(_("API token"), max_length=100, blank=True)
    address = models.GenericIPAddressField(_("address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    # Where: the subscription and vault the request was about, when it was about one.
    subscription_id = models.BigIntegerField(null=True, blank=True)
    subscription_name = models.CharField(_("subscription"), max_length=100, blank=True)
    vault_id = models.BigIntegerField(null=True, blank=True)
    vault_name = models.CharField(_("vault"), max_length=50, blank=True)
    # What: the action (a route's name), the request, what it acted on, how it ended.
    action = models.CharField(_("action"), max_length=100)
    method = models.CharField(max_length=10, blank=True)
    path = models.CharField(max_length=300, blank=True)
    target = models.CharField(_("target"), max_length=300, blank=True)
    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome.choices)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    message = models.TextField(_("message"), blank=True)
    # Fields a form changed: {"field": [before, after]}.
    changes = models.JSONField(_("changes"), default=dict, blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["vault_id", "at"], name="audit_vault_at"),
            models.Index(fields=["subscription_id", "at"], name="audit_subscription_at"),
            models.Index(fields=["address", "at"], name="audit_address_at"),  # repeated failures
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username or '-'} {self.action} {self.outcome}"

    def save(self, *args, **kwargs):
        if self.pk is not None or kwargs.get("force_update"):
            raise AppendOnly("Audit entries are never changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly("Audit entries are never deleted")

    @property
    def action_label(self):
        from audit.actions import label

        return label(self.action)
