import zoneinfo
from functools import cache

from django import forms
from django.conf import settings
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from portal.access import Action
from vaults.choices import (
    HOURLY_INTERVALS,
    LAST_DAY,
    MAX_EXTRA_TIMES,
    RETENTION_LIMITS,
    SOFT_DELETE_MAX_DAYS,
    SOFT_DELETE_MIN_DAYS,
    Frequency,
    Month,
    RuleBasis,
    Weekday,
    WeekOfMonth,
    retention_range_message,
)
from vaults.models import Policy, Subscription, Vault

# A message with its values, translated when shown (in the language of the request, not of the import).
lazy_format = lazy(lambda text, values: str(text) % values, str)

SOFT_DELETE_RANGE_MESSAGE = lazy_format(_("Deleted backup data is kept between %(low)d and %(high)d days."), {
    "low": SOFT_DELETE_MIN_DAYS, "high": SOFT_DELETE_MAX_DAYS})


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
        self.fields["subscription"].queryset = Subscription.objects.restrict(user, Action.CHANGE)
        self.fields["subscription"].empty_label = None
        self.fields["name"].widget.attrs.update(autofocus=True, autocomplete="off")


class VaultSettingsForm(forms.ModelForm):
    """The day of the weekly Verify, how long deleted data stays, and immutability (which only an Owner
    may set, and which, once saved, the form no longer lets go of)."""

    class Meta:
        model = Vault
        fields = ["verify_weekday", "soft_delete_days", "immutable"]
        error_messages = {"soft_delete_days": {
            "min_value": SOFT_DELETE_RANGE_MESSAGE, "max_value": SOFT_DELETE_RANGE_MESSAGE,
            "invalid": SOFT_DELETE_RANGE_MESSAGE, "required": SOFT_DELETE_RANGE_MESSAGE}}

    def __init__(self, *args, may_make_immutable=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["soft_delete_days"].widget.attrs.update(min=SOFT_DELETE_MIN_DAYS, max=SOFT_DELETE_MAX_DAYS)
        if self.instance.immutable or not may_make_immutable:
            self.fields["immutable"].disabled = True  # whatever is posted, it stays as it is (Owners only, once)


def _retention_field(kind):
    low, high, label, unit = RETENTION_LIMITS[kind]
    message = lazy(retention_range_message, str)(kind)
    return forms.IntegerField(
        label=label,
        required=False,
        min_value=low,
        max_value=high,
        error_messages={"min_value": message, "max_value": message, "invalid": message},
        help_text=lazy_format(_("%(low)d–%(high)d %(unit)s"), {"low": low, "high": high, "unit": unit}),
    )


DAY_OF_MONTH_CHOICES = [(day, str(day)) for day in range(1, 32)] + [(LAST_DAY, _("Last day"))]
# Short names, so a rule's choices fit on one line beside its span.
SHORT_WEEKDAYS = list(zip(Weekday.values, [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")],
                          strict=True))
SHORT_MONTHS = list(zip(Month.values, [_("Jan"), _("Feb"), _("Mar"), _("Apr"), _("May"), _("Jun"), _("Jul"),
                                       _("Aug"), _("Sep"), _("Oct"), _("Nov"), _("Dec")], strict=True))


def _days_field(label, choices):
    return forms.TypedMultipleChoiceField(label=label, choices=choices, coerce=int, required=False,
                                          widget=forms.CheckboxSelectMultiple)


class TimesField(forms.CharField):
    """Further times of day, typed as "HH:MM, HH:MM": a list of "HH:MM" (Policy.clean checks each)."""

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        text = super().to_python(value)
        return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]


class PolicyForm(forms.ModelForm):
    """A backup schedule and its retention range, in the limits the seed product had."""

    SCHEDULE_FIELDS = ("name", "frequency", "weekdays", "time_of_day", "extra_times", "hourly_interval",
                       "hourly_window", "time_zone")
    RETENTION_FIELDS = ("retain_each", "retain_daily", "retain_weekly", "retain_monthly", "retain_yearly")
    # Which backups each long-term rule keeps, shown beside its span.
    RULE_FIELDS = {
        "retain_weekly": ("weekly_days",),
        "retain_monthly": ("monthly_by", "monthly_week", "monthly_weekdays", "monthly_days"),
        "retain_yearly": ("yearly_months", "yearly_by", "yearly_week", "yearly_weekdays", "yearly_days"),
    }

    weekdays = forms.TypedMultipleChoiceField(
        label=_("Days (weekly schedules)"), choices=Weekday.choices, coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    time_of_day = forms.TimeField(label=_("Time"), widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    extra_times = TimesField(label=_("Also at"), required=False, max_length=100,
                             help_text=lazy_format(_("Up to %(count)d more times a day, as HH:MM, separated by "
                                                     "commas."), {"count": MAX_EXTRA_TIMES}))
    hourly_interval = forms.TypedChoiceField(
        label=_("Every"), coerce=int, required=False, empty_value=None,
        choices=lambda: [(hours, ngettext("%(hours)d hour", "%(hours)d hours", hours) % {"hours": hours})
                         for hours in HOURLY_INTERVALS])
    hourly_window = forms.IntegerField(label=_("For (hours)"), min_value=1, max_value=24, required=False,
                                       help_text=_("From the time above: the window the backups run in."))
    time_zone = forms.ChoiceField(label=_("Time zone"), initial="UTC")
    retain_each = _retention_field("each")
    retain_daily = _retention_field("daily")
    retain_weekly = _retention_field("weekly")
    retain_monthly = _retention_field("monthly")
    retain_yearly = _retention_field("yearly")
    weekly_days = _days_field(_("The backup of"), SHORT_WEEKDAYS)
    monthly_by = forms.ChoiceField(label=_("By"), choices=RuleBasis.choices, widget=forms.RadioSelect, required=False)
    monthly_week = forms.ChoiceField(label=_("Week"), choices=WeekOfMonth.choices, required=False)
    monthly_weekdays = _days_field(_("Day of the week"), SHORT_WEEKDAYS)
    monthly_days = _days_field(_("Days of the month"), DAY_OF_MONTH_CHOICES)
    yearly_months = _days_field(_("In"), SHORT_MONTHS)
    yearly_by = forms.ChoiceField(label=_("By"), choices=RuleBasis.choices, widget=forms.RadioSelect, required=False)
    yearly_week = forms.ChoiceField(label=_("Week"), choices=WeekOfMonth.choices, required=False)
    yearly_weekdays = _days_field(_("Day of the week"), SHORT_WEEKDAYS)
    yearly_days = _days_field(_("Days of the month"), DAY_OF_MONTH_CHOICES)

    class Meta:
        model = Policy
        fields = [
            "name", "frequency", "weekdays", "time_of_day", "extra_times", "hourly_interval", "hourly_window",
            "time_zone", "retain_each", "retain_daily", "retain_weekly", "retain_monthly", "retain_yearly",
            "weekly_days", "monthly_by", "monthly_week", "monthly_weekdays", "monthly_days",
            "yearly_months", "yearly_by", "yearly_week", "yearly_weekdays", "yearly_days",
        ]
        widgets = {"frequency": forms.RadioSelect}

    # A new policy starts like DefaultPolicy (daily at 22:00 UTC, kept 30 days), its long-term rules
    # like the seed's example (Sunday's backup, the last Sunday of the month, the first Sunday of January).
    NEW_POLICY_INITIAL = {
        "frequency": Frequency.DAILY, "time_of_day": "22:00", "time_zone": "UTC", "retain_daily": 30,
        "hourly_interval": 4, "hourly_window": 24,
        "weekly_days": [Weekday.SUNDAY], "monthly_by": RuleBasis.WEEKDAY, "monthly_week": WeekOfMonth.LAST,
        "monthly_weekdays": [Weekday.SUNDAY], "yearly_months": [Month.JANUARY], "yearly_by": RuleBasis.WEEKDAY,
        "yearly_week": WeekOfMonth.FIRST, "yearly_weekdays": [Weekday.SUNDAY],
    }

    def __init__(self, *args, vault, **kwargs):
        if kwargs.get("instance") is None:
            kwargs.setdefault("initial", self.NEW_POLICY_INITIAL)
        super().__init__(*args, **kwargs)
        self.vault = vault
        self.fields["time_zone"].choices = time_zone_choices()
        self.fields["name"].widget.attrs.update(autocomplete="off")

    def clean(self):
        if self.cleaned_data.get("hourly_window") is None and "hourly_window" not in self.errors:
            self.cleaned_data["hourly_window"] = 24
        # A rule's basis and week left out of the request (only a script leaves them out) take the defaults.
        for name in ("monthly_by", "monthly_week", "yearly_by", "yearly_week"):
            if not self.cleaned_data.get(name) and name not in self.errors:
                self.cleaned_data[name] = self.NEW_POLICY_INITIAL[name]
        return super().clean()

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if Policy.objects.filter(vault=self.vault, name__iexact=name).exclude(pk=self.instance.pk).exists():
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
        """The retention step's first values: a span that fits the schedule, and rules that keep
        backups of days the schedule runs on."""
        suggested = dict(self.NEW_POLICY_INITIAL)
        if self.cleaned_data["frequency"] == Frequency.WEEKLY:
            days = sorted(self.cleaned_data["weekdays"])
            suggested.update(retain_daily=None, retain_weekly=12, weekly_days=days, monthly_weekdays=days[-1:],
                             yearly_weekdays=days[-1:])
        return suggested

    def policy_fields(self):
        return {name: self.cleaned_data[name] for name in self.Meta.fields}
