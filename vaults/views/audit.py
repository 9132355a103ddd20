"""The audit log of a vault (a tab) and of a subscription (its vaults and its members)."""

from django.views.decorators.http import require_GET

from audit.models import AuditEntry
from audit.pages import audit_page
from portal.access import Action
from vaults.views.base import vault_context, vault_view
from vaults.views.members import subscription_view


@vault_view(Action.VIEW)
@require_GET
def vault_audit(request, vault):
    entries = AuditEntry.objects.filter(vault_id=vault.pk)
    return audit_page(request, entries, "vaults/audit.html", vault_context(request, vault, "audit"), vault.name)


@subscription_view(Action.VIEW)
@require_GET
def subscription_audit(request, subscription):
    entries = AuditEntry.objects.filter(subscription_id=subscription.pk)
    context = {"subscription": subscription, "show_vault": True}
    return audit_page(request, entries, "vaults/subscription_audit.html", context, subscription.name)
