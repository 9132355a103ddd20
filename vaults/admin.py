from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from portal.admin_mixins import LargeTableAdmin, ReadOnlyAdmin
from vaults.models import (
    ItemStateChange,
    KeyExport,
    Membership,
    Policy,
    RecoveryPoint,
    RegisteredItem,
    StorageSample,
    Subscription,
    Vault,
    VirtualMachine,
    VMSource,
)
from vaults.queries import with_retention


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    inlines = [MembershipInline]
    search_fields = ["name"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["subscription", "user", "role"]
    list_filter = ["role"]


@admin.register(VMSource)
class VMSourceAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "subscription", "location"]


@admin.register(Vault)
class VaultAdmin(admin.ModelAdmin):
    list_display = ["name", "region", "subscription", "created_at"]
    list_filter = ["region"]
    search_fields = ["name"]
    filter_horizontal = ["discovered_vms"]
    # The vault key is not shown here: an Owner exports it from the vault's Quick Start page.
    readonly_fields = ["uuid", "stored_bytes", "point_count", "protected_bytes"]  # running totals: jobs keep them

    def get_readonly_fields(self, request, obj=None):
        """A vault whose repository exists keeps its storage: moving it would strand its backups."""
        fields = list(self.readonly_fields)
        if obj is not None and (obj.repository_id or obj.stored_bytes or obj.recovery_points.exists()):
            fields.append("storage_url")
        if obj is not None and obj.immutable:
            fields.append("immutable")  # once immutable, always
        return fields


@admin.register(VirtualMachine)
class VirtualMachineAdmin(LargeTableAdmin, admin.ModelAdmin):
    list_display = ["name", "cloud_service", "region", "power_state", "has_backup_extension", "source"]
    list_filter = ["region", "power_state", "has_backup_extension"]
    search_fields = ["name", "cloud_service", "external_id"]


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "vault", "frequency", "time_of_day", "time_zone", "retain_daily"]


@admin.register(RegisteredItem)
class RegisteredItemAdmin(LargeTableAdmin, admin.ModelAdmin):
    list_display = ["vm", "vault", "registration_state", "protection_state", "policy", "purge_after"]
    # States change through jobs only (each change a history row); the admin shows them.
    readonly_fields = ["registration_state", "protection_state", "protected_at", "purge_after", "deletion_reason"]
    list_filter = ["registration_state", "protection_state"]
    list_select_related = ["vm", "vault", "policy"]


@admin.register(ItemStateChange)
class ItemStateChangeAdmin(LargeTableAdmin, ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["at", "vm", "field", "old", "new", "reason"]
    list_select_related = ["vm"]
    ordering = ["-pk"]  # newest first, along the primary key's index (no sort of the whole table)


@admin.register(RecoveryPoint)
class RecoveryPointAdmin(LargeTableAdmin, ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["created_at", "vm", "vault", "consistency", "size", "new_bytes", "retain_until"]
    list_filter = ["consistency"]
    list_select_related = ["vm", "vault"]
    ordering = ["-pk"]  # newest first, along the primary key's index (no sort of the whole table)
    readonly_fields = ["kept_by"]

    @admin.display(description=_("kept by"))
    def kept_by(self, point):
        """The rules that keep the point and until when, by its item's policy as it is now (as on the item page)."""
        item = RegisteredItem.objects.filter(vault=point.vault_id, vm=point.vm_id).select_related("vault", "vm", "policy").first()
        if item is None:
            return "—"
        (point,) = with_retention([point], item)
        return "; ".join(f"{rule} {until:%Y-%m-%d}" for rule, until in point.kept) or _("No rule: kept as the newest point")


@admin.register(KeyExport)
class KeyExportAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["at", "vault", "user", "address"]
    list_select_related = ["vault", "user"]


@admin.register(StorageSample)
class StorageSampleAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["vault", "day", "stored_bytes", "protected_bytes"]
    list_select_related = ["vault"]
    date_hierarchy = "day"
