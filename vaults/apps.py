from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VaultsConfig(AppConfig):
    name = "vaults"
    verbose_name = _("Vaults")

    def ready(self):
        from vaults import signals  # noqa: F401 - settles items whose job failed
