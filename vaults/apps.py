from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VaultsConfig(AppConfig):
    name = "vaults"
    verbose_name = _("Vaults")

    def ready(self):
        from vaults import operations, signals  # noqa: F401 - signals settle items whose job failed

        operations.register()  # the job core learns the vault's operations, tasks and error codes
        from audit import actions
        from vaults.audit_labels import LABELS

        actions.register(LABELS)
