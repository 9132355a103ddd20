"""How the API shows the records: subscriptions, VM sources, vaults, VMs, items, recovery points,
policies, jobs (with their sub-tasks and events) and audit entries. Read-only: changes go through the
commands (api/bodies.py) and the same services the pages use."""

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from audit.models import AuditEntry
from jobs.models import Job, JobEvent, JobSubtask
from portal.access import Action, Role
from vaults.models import Policy, RecoveryPoint, RegisteredItem, Subscription, Vault, VirtualMachine, VMSource


class SubscriptionSerializer(serializers.ModelSerializer):
    role = serializers.ChoiceField(choices=Role.choices, read_only=True, help_text="Your role in it.")

    class Meta:
        model = Subscription
        fields = ["id", "name", "role"]


class SourceSerializer(serializers.ModelSerializer):
    # Its location (a folder or host URI on the server's side) is the administrator's business.
    class Meta:
        model = VMSource
        fields = ["id", "name", "kind"]


class VaultSerializer(serializers.ModelSerializer):
    subscription = serializers.PrimaryKeyRelatedField(queryset=Subscription.objects.none(),
                                                      help_text="A subscription where your role may create vaults.")
    region = serializers.ChoiceField(choices=settings.VAULTLINE_REGIONS)
    subscription_name = serializers.CharField(source="subscription.name", read_only=True)
    role = serializers.ChoiceField(choices=Role.choices, read_only=True, help_text="Your role in its subscription.")
    url = serializers.SerializerMethodField()

    class Meta:
        model = Vault
        fields = ["id", "url", "name", "region", "subscription", "subscription_name", "role", "uuid", "created_at",
                  "stored_bytes", "immutable", "soft_delete_days", "verify_weekday"]
        read_only_fields = ["uuid", "created_at", "stored_bytes", "immutable", "soft_delete_days", "verify_weekday"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:  # another subscription's id is as unknown as one that does not exist
            self.fields["subscription"].queryset = Subscription.objects.restrict(request.user, Action.CHANGE)

    def get_url(self, vault) -> str:
        return reverse("api:vault", args=[vault.pk])


class DiskSerializer(serializers.Serializer):
    name = serializers.CharField()
    format = serializers.CharField()
    virtual_size = serializers.IntegerField()


class VirtualMachineSerializer(serializers.ModelSerializer):
    disks = serializers.SerializerMethodField()

    class Meta:
        model = VirtualMachine
        fields = ["id", "name", "cloud_service", "region", "power_state", "has_backup_extension", "disks",
                  "last_seen_at"]

    @extend_schema_field(DiskSerializer(many=True))
    def get_disks(self, vm):
        # A disk's path on its host is the source's business: its name, format and size are shown.
        return [{"name": str(disk.get("name", "")), "format": str(disk.get("format", "")),
                 "virtual_size": int(disk.get("virtual_size", 0))} for disk in vm.disks]


class ItemSerializer(serializers.ModelSerializer):
    vm = VirtualMachineSerializer(read_only=True)
    policy_name = serializers.CharField(source="policy.name", read_only=True, allow_null=True, default=None)
    point_count = serializers.IntegerField(read_only=True)
    newest_point = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = RegisteredItem
        fields = ["id", "vm", "registration_state", "protection_state", "policy", "policy_name", "registered_at",
                  "protected_at", "purge_after", "point_count", "newest_point"]


class PointDiskSerializer(serializers.Serializer):
    name = serializers.CharField()
    format = serializers.CharField()
    size = serializers.IntegerField()


class RecoveryPointSerializer(serializers.ModelSerializer):
    vm_name = serializers.CharField(source="vm.name", read_only=True)
    disks = serializers.SerializerMethodField()

    class Meta:
        model = RecoveryPoint
        fields = ["id", "vm", "vm_name", "created_at", "consistency", "size", "new_bytes", "disks", "slot",
                  "retain_until", "verified_at", "verified_ok"]

    @extend_schema_field(PointDiskSerializer(many=True))
    def get_disks(self, point):
        return [{"name": str(disk.get("name", "")), "format": str(disk.get("format", "")),
                 "size": int(disk.get("size", 0))} for disk in point.disks]


@extend_schema_field({"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$", "example": "22:00"})
class TimeOfDayField(serializers.TimeField):
    """HH:MM, as a policy takes it (not an RFC 3339 time, which would need seconds and an offset)."""

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", **kwargs)


class PolicySerializer(serializers.ModelSerializer):
    time_of_day = TimeOfDayField()
    item_count = serializers.IntegerField(read_only=True, help_text="The VMs it protects.")

    class Meta:
        model = Policy
        fields = ["id", "name", "frequency", "weekdays", "time_of_day", "extra_times", "hourly_interval",
                  "hourly_window", "time_zone", "retain_each", "retain_daily", "retain_weekly", "retain_monthly",
                  "retain_yearly", "weekly_days", "monthly_by", "monthly_week", "monthly_weekdays", "monthly_days",
                  "yearly_months", "yearly_by", "yearly_week", "yearly_weekdays", "yearly_days", "item_count"]


class SubtaskSerializer(serializers.ModelSerializer):
    name = serializers.CharField(read_only=True, help_text="Its name in English: the same in every language.")
    label = serializers.CharField(read_only=True, help_text="Its name in the request's language.")

    class Meta:
        model = JobSubtask
        fields = ["name", "label", "status", "started_at", "finished_at"]


class EventSerializer(serializers.ModelSerializer):
    message = serializers.CharField(read_only=True)

    class Meta:
        model = JobEvent
        fields = ["at", "old_status", "new_status", "message"]


class ProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    total = serializers.IntegerField()
    percent = serializers.IntegerField()
    message = serializers.CharField(allow_blank=True)


class JobSerializer(serializers.ModelSerializer):
    """What the job says is in the request's language (Accept-Language); its codes are not."""

    url = serializers.SerializerMethodField()
    result_message = serializers.CharField(read_only=True)
    error_message = serializers.CharField(read_only=True)
    recommended_action = serializers.CharField(read_only=True)
    error_detail = serializers.CharField(read_only=True)
    operation_display = serializers.CharField(source="get_operation_display", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    progress = serializers.SerializerMethodField()
    duration_seconds = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = ["id", "url", "vault", "vm", "entity_name", "operation", "operation_display", "status",
                  "created_by", "created_at", "started_at", "finished_at", "duration_seconds", "progress",
                  "result_message", "error_code", "error_message", "recommended_action", "error_detail"]

    def get_url(self, job) -> str:
        return reverse("api:job", args=[job.vault_id, job.pk])

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, job):
        return {"done": job.progress_done, "total": job.progress_total, "percent": job.percent,
                "message": job.progress_message}

    def get_duration_seconds(self, job) -> float | None:
        return job.duration.total_seconds() if job.duration is not None else None


class JobDetailSerializer(JobSerializer):
    subtasks = SubtaskSerializer(many=True, read_only=True)
    events = EventSerializer(many=True, read_only=True)

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "subtasks", "events"]


class AuditEntrySerializer(serializers.ModelSerializer):
    action_label = serializers.CharField(read_only=True)

    class Meta:
        model = AuditEntry
        fields = ["id", "at", "username", "token_name", "address", "user_agent", "subscription_id",
                  "subscription_name", "vault_id", "vault_name", "action", "action_label", "target", "outcome",
                  "status_code", "message", "changes"]
