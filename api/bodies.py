"""What the API's commands take (their request bodies) and what they answer: `202 Accepted` with the
jobs they started, which the caller polls. The shape is checked here; the rules are the operations'
own (a vaults.errors.Refused becomes a 409 problem)."""

from rest_framework import serializers

from api.serializers import JobSerializer
from portal.htmx import MAX_ID
from vaults.choices import HOURLY_INTERVALS, Frequency, RuleBasis, WeekOfMonth
from vaults.forms import PolicyForm
from vaults.operations.restore import RESTORE_NEW_VM, RESTORE_REPLACE

MAX_SELECTED = 500  # ids in one command: the pages' own selections are far smaller


def one_id(help_text="", **options):
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text=help_text, **options)


def ids(help_text, **options):
    return serializers.ListField(child=one_id(), max_length=MAX_SELECTED, help_text=help_text, **options)


class AcceptedSerializer(serializers.Serializer):
    jobs = JobSerializer(many=True, help_text="The jobs started: poll each one's url until its status is terminal.")


class RegisterBody(serializers.Serializer):
    vms = ids("Ids of protectable (discovered, unregistered) VMs.", min_length=1)


class ItemsBody(serializers.Serializer):
    items = ids("Ids of the vault's registered items.", min_length=1)


class ProtectBody(ItemsBody):
    policy = one_id("An existing policy of the vault.")


class BackupNowBody(ItemsBody):
    retain_until = serializers.DateField(required=False, help_text="Keep the point until this day (default: 30 "
                                                                   "days from today).")


class RestoreBody(serializers.Serializer):
    point = one_id("A recovery point of the vault.")
    mode = serializers.ChoiceField(choices=[RESTORE_NEW_VM, RESTORE_REPLACE])
    name = serializers.CharField(required=False, allow_blank=True, max_length=200, default="",
                                 help_text="new_vm: the new VM's name.")
    cloud_service = serializers.CharField(required=False, allow_blank=True, max_length=200, default="",
                                          help_text="new_vm: its cloud service.")
    confirm = serializers.BooleanField(required=False, default=False,
                                       help_text="replace: true, once you are sure the VM's disks are to be "
                                                 "overwritten.")


class StopProtectionBody(ItemsBody):
    delete_data = serializers.BooleanField(required=False, default=False)
    confirm_name = serializers.CharField(required=False, allow_blank=True, max_length=200, default="",
                                         help_text="When deleting data: the VM's name, typed again.")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class DeleteDataBody(ItemsBody):
    confirm_name = serializers.CharField(max_length=200, help_text="The VM's name, typed again.")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


def _days(low, high, most):
    return serializers.ListField(child=serializers.IntegerField(min_value=low, max_value=high), required=False,
                                 max_length=most)


def _span():
    return serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=100000)


class PolicyBody(serializers.Serializer):
    """A policy as the policy dialog takes it; the dialog's own form then applies the rules. Nothing has a
    default here: a new policy takes the dialog's, a change keeps what a field left out had, and null
    clears a rule."""

    name = serializers.CharField(max_length=50)
    frequency = serializers.ChoiceField(choices=Frequency.choices)
    weekdays = _days(0, 6, 7)
    time_of_day = serializers.RegexField(r"^[0-2][0-9]:[0-5][0-9]$", help_text="HH:MM")
    extra_times = serializers.ListField(child=serializers.RegexField(r"^[0-2][0-9]:[0-5][0-9]$"), required=False,
                                        max_length=24)
    hourly_interval = serializers.ChoiceField(choices=[(hours, str(hours)) for hours in HOURLY_INTERVALS],
                                              required=False, allow_null=True)
    hourly_window = serializers.IntegerField(min_value=1, max_value=24, required=False, allow_null=True)
    time_zone = serializers.CharField(max_length=64, required=False, help_text="UTC for a new policy.")
    retain_each = _span()
    retain_daily = _span()
    retain_weekly = _span()
    retain_monthly = _span()
    retain_yearly = _span()
    weekly_days = _days(0, 6, 7)
    monthly_by = serializers.ChoiceField(choices=RuleBasis.choices, required=False)
    monthly_week = serializers.ChoiceField(choices=WeekOfMonth.choices, required=False)
    monthly_weekdays = _days(0, 6, 7)
    monthly_days = _days(-1, 31, 32)
    yearly_months = _days(1, 12, 12)
    yearly_by = serializers.ChoiceField(choices=RuleBasis.choices, required=False)
    yearly_week = serializers.ChoiceField(choices=WeekOfMonth.choices, required=False)
    yearly_weekdays = _days(0, 6, 7)
    yearly_days = _days(-1, 31, 32)

    def policy_values(self):
        """The fields the body sets (None: cleared), under the policy dialog's names."""
        return {name: value for name, value in self.validated_data.items() if name in PolicyForm.Meta.fields}


class PolicyChangeBody(PolicyBody):
    """A change to a policy: every field may be left out (it keeps its value)."""

    name = serializers.CharField(max_length=50, required=False)
    frequency = serializers.ChoiceField(choices=Frequency.choices, required=False)
    time_of_day = serializers.RegexField(r"^[0-2][0-9]:[0-5][0-9]$", help_text="HH:MM", required=False)


class PolicyPreviewBody(PolicyChangeBody):
    """The rules to preview: an existing policy's (`policy`) changed by the fields given, or new ones."""

    policy = one_id("An existing policy being changed: its VMs are the ones estimated.", required=False)
    items = ids("Or these items: the VMs about to be protected with it.", required=False)
    start = serializers.DateField(required=False, help_text="The day the preview starts (today by default).")


class HorizonSerializer(serializers.Serializer):
    name = serializers.CharField()
    at = serializers.DateTimeField()
    points = serializers.IntegerField(help_text="Recovery points kept then, of backups made from the start day.")
    oldest = serializers.DateTimeField(allow_null=True)


class EstimateSerializer(serializers.Serializer):
    total_bytes = serializers.IntegerField()
    measured = serializers.ListField(child=serializers.CharField())
    averaged = serializers.ListField(child=serializers.CharField())
    from_disk_size = serializers.ListField(child=serializers.CharField())


class PreviewSerializer(serializers.Serializer):
    start = serializers.DateField()
    horizons = HorizonSerializer(many=True)
    most_points_kept = serializers.IntegerField(help_text="At most this many points per VM, at steady state.")
    estimate = EstimateSerializer(allow_null=True)
