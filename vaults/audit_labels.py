"""How the audit log names the vault pages' commands (an entry stores the route's name)."""

from django.utils.translation import gettext_lazy as _

LABELS = {
    "vaults:create": _("Create vault"),
    "vaults:settings": _("Change vault settings"),
    "vaults:delete": _("Delete vault"),
    "vaults:export_key": _("Export vault key"),
    "vaults:discover": _("Discover"),
    "vaults:register": _("Register"),
    "vaults:unregister": _("Unregister"),
    "vaults:protect": _("Protect"),
    "vaults:backup_now": _("Backup Now"),
    "vaults:restore": _("Restore"),
    "vaults:download_disk": _("Download disk"),
    "vaults:stop_protection": _("Stop protection"),
    "vaults:delete_backup_data": _("Delete backup data"),
    "vaults:undelete": _("Undelete"),
    "vaults:verify": _("Verify"),
    "vaults:prune": _("Prune"),
    "vaults:policy_create": _("Create policy"),
    "vaults:policy_edit": _("Change policy"),
    "vaults:policy_delete": _("Delete policy"),
    "vaults:job_cancel": _("Cancel job"),
    "vaults:job_retry": _("Retry job"),
    "subscriptions:member_add": _("Add member"),
    "subscriptions:member_role": _("Change member's role"),
    "subscriptions:member_remove": _("Remove member"),
}
