import zoneinfo
from functools import cache

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from vaults.choices import RETENTION_LIMITS, Frequency, Weekday, retention_range_message
from vaults.models import Policy, Subscription, Vault


@cache
def time_zone_choices():
    return [(name, name) for name in sorted(zoneinfo.available_timezones()) if "/" in name or name == "UTC"]


class VaultForm(forms.ModelForm):
    region = forms.ChoiceField(label=_("Region"))

    class Meta:
        model = Vault
        fields = ["name", "region", "subscription"]

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = [(region, region) for region in settings.VAULTLINE_REGIONS]
        self.fields["subscription"].queryset = Subscription.objects.restrict(user, "change")
        self.fields["subscription"].empty_label = None
        self.fields["name"].widget.attrs.update(autofocus=True, autocomplete="off")


def _retention_field(kind):
    low, high, label, unit = RETENTION_LIMITS[kind]
    message = retention_range_message(kind)
    return forms.IntegerField(
        label=label,
        required=False,
        min_value=low,
        max_value=high,
        error_messages={"min_value": message, "max_value": message, "invalid": message},
        help_text=_("%(low)d–%(high)d %(unit)s") % {"low": low, "high": high, "unit": unit},
    )


class PolicyForm(forms.ModelForm):
    """A backup schedule and its retention range, in the limits the seed product had."""

    SCHEDULE_FIELDS = ("name", "frequency", "weekdays", "time_of_day", "time_zone")
    RETENTION_FIELDS = ("retain_daily", "retain_weekly", "retain_monthly", "retain_yearly")

    weekdays = forms.TypedMultipleChoiceField(
        label=_("Days (weekly schedules)"), choices=Weekday.choices, coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    time_of_day = forms.TimeField(label=_("Time"), widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    time_zone = forms.ChoiceField(label=_("Time zone"), initial="UTC")
    retain_daily = _retention_field("daily")
    retain_weekly = _retention_field("weekly")
    retain_monthly = _retention_field("monthly")
    retain_yearly = _retention_field("yearly")

    class Meta:
        model = Policy
        fields = [
            "name", "frequency", "weekdays", "time_of_day", "time_zone",
            "retain_daily", "retain_weekly", "retain_monthly", "retain_yearly",
        ]
        widgets = {"frequency": forms.RadioSelect}

    # A new policy starts like DefaultPolicy: daily at 22:00 UTC, kept 30 days.
    NEW_POLICY_INITIAL = {"frequency": Frequency.DAILY, "time_of_day": "22:00", "time_zone": "UTC", "retain_daily": 30}

    def __init__(self, *args, vault, **kwargs):
        kwargs.setdefault("initial", self.NEW_POLICY_INITIAL)
        super().__init__(*args, **kwargs)
        self.vault = vault
        self.fields["time_zone"].choices = time_zone_choices()
        self.fields["name"].widget.attrs.update(autocomplete="off")

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if Policy.objects.filter(vault=self.vault, name__iexact=name).exists():
            raise forms.ValidationError(_("A policy named %(name)s already exists in this vault."), params={"name": name})
        return name

    # The rules that tie schedule and retention together live in Policy.clean(), which the
    # ModelForm runs after these fields' own checks.

    def schedule_is_valid(self):
        """True when the schedule step's fields are valid (the wizard checks them before retention)."""
        self.is_valid()
        return not any(name in self.errors for name in self.SCHEDULE_FIELDS)

    def schedule(self):
        """The cleaned schedule, carried as hidden fields to the retention step."""
        return {name: self.cleaned_data[name] for name in self.SCHEDULE_FIELDS}

    def suggested_retention(self):
        if self.cleaned_data["frequency"] == Frequency.WEEKLY:
            return {"retain_weekly": 12}
        return {"retain_daily": 30}

    def policy_fields(self):
        return {name: self.cleaned_data[name] for name in self.Meta.fields}
