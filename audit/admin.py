from django.contrib import admin

from audit.models import AuditEntry
from portal.admin_mixins import LargeTableAdmin, ReadOnlyAdmin


@admin.register(AuditEntry)
class AuditEntryAdmin(LargeTableAdmin, ReadOnlyAdmin, admin.ModelAdmin):
    """Staff read the whole log here; nobody changes or deletes an entry."""

    list_display = ["at", "username", "token_name", "action", "target", "outcome", "subscription_name",
                    "vault_name", "address"]
    list_filter = ["outcome", "action"]
    search_fields = ["username", "target", "action", "vault_name", "subscription_name"]
    date_hierarchy = "at"
    readonly_fields = [field.name for field in AuditEntry._meta.fields]
