from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = _("Audit")

    def ready(self):
        from audit import signals  # connects the sign-in, sign-out and failed sign-in receivers
        from audit.actions import register

        register({signals.SIGN_IN: _("Sign in"), signals.SIGN_OUT: _("Sign out"),
                  "admin:addition": _("Add in the admin"), "admin:change": _("Change in the admin"),
                  "admin:deletion": _("Delete in the admin")})
