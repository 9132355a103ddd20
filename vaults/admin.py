from django.contrib import admin

from vaults.models import (
    ItemStateChange,
    RecoveryPoint,
    Membership,
    Policy,
    RegisteredItem,
    Subscription,
    Vault,
    VirtualMachine,
    VMSource,
)


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
    # The key reads the vault's repository without the portal: staff keep a copy somewhere safe.
    readonly_fields = ["uuid", "encryption_key", "stored_bytes"]


@admin.register(VirtualMachine)
class VirtualMachineAdmin(admin.ModelAdmin):
    list_display = ["name", "cloud_service", "region", "power_state", "has_backup_extension", "source"]
    list_filter = ["region", "power_state", "has_backup_extension"]
    search_fields = ["name", "cloud_service", "external_id"]


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "vault", "frequency", "time_of_day", "time_zone", "retain_daily"]


@admin.register(RegisteredItem)
class RegisteredItemAdmin(admin.ModelAdmin):
    list_display = ["vm", "vault", "registration_state", "protection_state", "policy"]
    list_filter = ["registration_state", "protection_state"]
    list_select_related = ["vm", "vault", "policy"]


@admin.register(ItemStateChange)
class ItemStateChangeAdmin(admin.ModelAdmin):
    list_display = ["at", "vm", "field", "old", "new", "reason"]
    list_select_related = ["vm"]


@admin.register(RecoveryPoint)
class RecoveryPointAdmin(admin.ModelAdmin):
    list_display = ["created_at", "vm", "vault", "consistency", "size", "new_bytes"]
    list_filter = ["consistency"]
    list_select_related = ["vm", "vault"]
    readonly_fields = ["point_id", "change_position", "job"]
