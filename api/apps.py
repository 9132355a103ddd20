from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = _("API")

    def ready(self):
        from audit.actions import register

        register({"tokens:create": _("Create API token"), "tokens:revoke": _("Revoke API token")})
