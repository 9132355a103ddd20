from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from api import tokens
from api.models import ApiToken
from portal.admin_mixins import ReadOnlyAdmin


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """Staff see every token (never its digest) and revoke a leaked one; nothing else is changed here."""

    list_display = ["name", "user", "prefix", "read_only", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["read_only"]
    search_fields = ["name", "user__username", "prefix"]
    list_select_related = ["user"]
    fields = ["name", "user", "prefix", "read_only", "created_at", "expires_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke"]

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke(self, request, queryset):
        count = 0
        for row in queryset.filter(revoked_at__isnull=True):
            tokens.revoke(row)
            count += 1
        self.message_user(request, ngettext("%(count)d token revoked.", "%(count)d tokens revoked.", count) % {
            "count": count}, messages.SUCCESS)
