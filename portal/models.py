"""A person's own settings: the time zone times are shown in (the browser's until they choose one)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Preferences(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preferences")
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True,
                                 help_text=_("Empty: the time zone of your browser."))

    class Meta:
        verbose_name = _("preferences")
        verbose_name_plural = _("preferences")
