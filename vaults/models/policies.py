"""Backup policies: a schedule, and the retention rules that say which recovery points stay how long."""

import datetime

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from portal.access import RestrictedQuerySet
from vaults.choices import (
    HOURLY_INTERVALS,
    LAST_DAY,
    MAX_EXTRA_TIMES,
    MAX_RECOVERY_POINTS_PER_ITEM,
    RETENTION_LIMITS,
    Frequency,
    Month,
    RuleBasis,
    Weekday,
    WeekOfMonth,
    retention_range_message,
)
from vaults.models.tenancy import Vault


def parse_time_of_day(value):
    """A time of day from "HH:MM" (ValueError or TypeError otherwise)."""
    if not isinstance(value, str) or len(value) != 5:
        raise ValueError(value)
    return datetime.datetime.strptime(value, "%H:%M").time()


def _sunday():
    return [Weekday.SUNDAY.value]


def _january():
    return [Month.JANUARY.value]


def _retention_validators(kind):
    low, high, _label, _unit = RETENTION_LIMITS[kind]
    message = retention_range_message(kind)
    return [MinValueValidator(low, message), MaxValueValidator(high, message)]


class Policy(models.Model):
    vault = models.ForeignKey(Vault, on_delete=models.CASCADE, related_name="policies")
    name = models.CharField(_("name"), max_length=50)
    frequency = models.CharField(_("frequency"), max_length=10, choices=Frequency.choices, default=Frequency.DAILY)
    weekdays = models.JSONField(_("days of the week"), default=list, blank=True)
    time_of_day = models.TimeField(_("time of day"))
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC")
    # More backups a day: a daily or weekly schedule's further times ("HH:MM"), or an hourly schedule
    # (every `hourly_interval` hours from time_of_day, within `hourly_window` hours). See times().
    extra_times = models.JSONField(_("also at"), default=list, blank=True)
    hourly_interval = models.PositiveSmallIntegerField(
        _("every (hours)"), null=True, blank=True, choices=[(hours, str(hours)) for hours in HOURLY_INTERVALS])
    hourly_window = models.PositiveSmallIntegerField(
        _("window (hours)"), default=24, validators=[MinValueValidator(1), MaxValueValidator(24)])
    retain_each = models.PositiveIntegerField(
        _("every point, in days"), null=True, blank=True, validators=_retention_validators("each"))
    retain_daily = models.PositiveIntegerField(
        _("daily points, in days"), null=True, blank=True, validators=_retention_validators("daily"))
    retain_weekly = models.PositiveIntegerField(
        _("weekly points, in weeks"), null=True, blank=True, validators=_retention_validators("weekly"))
    retain_monthly = models.PositiveIntegerField(
        _("monthly points, in months"), null=True, blank=True, validators=_retention_validators("monthly"))
    retain_yearly = models.PositiveIntegerField(
        _("yearly points, in years"), null=True, blank=True, validators=_retention_validators("yearly"))
    # Which scheduled backups the long-term rules keep (vaults/retention.py); the defaults are the
    # seed's example: Sunday's, the last Sunday of each month's, the first Sunday of January's.
    weekly_days = models.JSONField(_("weekly: the backup of"), default=_sunday, blank=True)
    monthly_by = models.CharField(_("monthly: by"), max_length=10, choices=RuleBasis.choices, default=RuleBasis.WEEKDAY)
    monthly_week = models.CharField(_("monthly: week"), max_length=10, choices=WeekOfMonth.choices,
                                    default=WeekOfMonth.LAST)
    monthly_weekdays = models.JSONField(_("monthly: day of the week"), default=_sunday, blank=True)
    monthly_days = models.JSONField(_("monthly: days of the month"), default=list, blank=True)
    yearly_months = models.JSONField(_("yearly: months"), default=_january, blank=True)
    yearly_by = models.CharField(_("yearly: by"), max_length=10, choices=RuleBasis.choices, default=RuleBasis.WEEKDAY)
    yearly_week = models.CharField(_("yearly: week"), max_length=10, choices=WeekOfMonth.choices,
                                   default=WeekOfMonth.FIRST)
    yearly_weekdays = models.JSONField(_("yearly: day of the week"), default=_sunday, blank=True)
    yearly_days = models.JSONField(_("yearly: days of the month"), default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = RestrictedQuerySet.as_manager()
    subscription_path = "vault__subscription"

    class Meta:
        verbose_name_plural = _("policies")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), "vault", name="policy_name_per_vault")]

    def __str__(self):
        return self.name

    def audit_scope(self):
        return self.vault.subscription, self.vault

    def clean(self):
        """The retention rules: they hold however a policy is made (form, wizard, admin, code)."""
        errors = self._times_errors()
        if self.frequency in (Frequency.DAILY, Frequency.HOURLY):
            self.weekdays = []
            if not self.retain_daily:
                errors["retain_daily"] = _("A daily schedule needs a daily retention (1–9999 days).") \
                    if self.frequency == Frequency.DAILY else \
                    _("An hourly schedule needs a daily retention (1–9999 days): it keeps the first backup of each day.")
        elif self.frequency == Frequency.WEEKLY:
            if not self.weekdays:
                errors["weekdays"] = _("Choose at least one day for a weekly schedule.")
            if self.retain_daily:
                errors["retain_daily"] = _("A weekly schedule keeps weekly, monthly or yearly points, not daily ones.")
            if not self.retain_weekly:
                errors["retain_weekly"] = _("A weekly schedule needs a weekly retention (1–5163 weeks).")
        errors.update(self._rule_errors())
        times_known = isinstance(self.time_of_day, datetime.time) and not errors.keys() & {
            "extra_times", "hourly_interval", "hourly_window"}
        kept = self.most_points_kept() if times_known else 0
        if kept > MAX_RECOVERY_POINTS_PER_ITEM:
            errors[NON_FIELD_ERRORS] = _(
                "These rules keep up to %(kept)d recovery points; an item can have at most %(limit)d."
            ) % {"kept": kept, "limit": MAX_RECOVERY_POINTS_PER_ITEM}
        if errors:
            raise ValidationError(errors)

    def _times_errors(self):
        """What is wrong with when the schedule backs up; normalises the times it keeps."""
        errors = {}
        if not isinstance(self.time_of_day, datetime.time):
            return errors  # its own field says what is wrong with it
        if self.frequency == Frequency.HOURLY:
            self.extra_times = []
            if self.hourly_interval not in HOURLY_INTERVALS:
                errors["hourly_interval"] = _("Choose every 4, 6, 8 or 12 hours.")
            elif not self.hourly_interval <= (self.hourly_window or 0) <= 24:
                errors["hourly_window"] = _("The window lasts from %(low)d to 24 hours.") % {"low": self.hourly_interval}
        else:
            self.hourly_interval, self.hourly_window = None, 24
            try:
                times = sorted({parse_time_of_day(value) for value in self.extra_times or []} - {self.time_of_day})
            except (TypeError, ValueError):
                errors["extra_times"] = _("Give further times as HH:MM, separated by commas.")
            else:
                if len(times) > MAX_EXTRA_TIMES:
                    errors["extra_times"] = _("At most %(count)d further times a day.") % {"count": MAX_EXTRA_TIMES}
                self.extra_times = [value.strftime("%H:%M") for value in times]
        if errors.keys() & {"extra_times", "hourly_interval", "hourly_window"}:
            return errors  # how many backups a day is not known yet
        several = len(self.times()) > 1
        if several and not self.retain_each:
            errors["retain_each"] = _("A schedule that backs up more than once a day says how long every backup is "
                                      "kept (1–30 days).")
        elif self.retain_each and not several:
            errors["retain_each"] = _("Every backup is kept apart only when the schedule backs up more than once a "
                                      "day; leave it empty.")
        return errors

    def times(self):
        """The local times of day the schedule backs up at (on the days it backs up), in order."""
        if self.frequency == Frequency.HOURLY:
            start = self.time_of_day.hour * 60 + self.time_of_day.minute
            minutes = {(start + hours * 60) % 1440 for hours in range(0, self.hourly_window, self.hourly_interval)}
            return [datetime.time(minute // 60, minute % 60) for minute in sorted(minutes)]
        return sorted({self.time_of_day, *(parse_time_of_day(value) for value in self.extra_times or [])})

    @property
    def times_text(self):
        return ", ".join(time.strftime("%H:%M") for time in self.times())

    def backs_up_on(self, day):
        return self.frequency != Frequency.WEEKLY or day.weekday() in self.weekdays

    def _rule_errors(self):
        """What is wrong with the long-term rules' choices of which backups they keep."""
        errors = {}
        weekdays = set(Weekday.values)
        scheduled = set(self.weekdays) if self.frequency == Frequency.WEEKLY else weekdays

        def check_days(field, values, allowed, message):
            if not isinstance(values, list) or not values or not set(values) <= allowed:
                errors[field] = message

        if self.retain_weekly:
            check_days("weekly_days", self.weekly_days, weekdays, _("Choose the days whose backups the weekly rule keeps."))
            if "weekly_days" not in errors and not set(self.weekly_days) <= scheduled:
                errors["weekly_days"] = _("The weekly rule keeps the backups of days the schedule does not back up on.")
        for kind, retain in (("monthly", self.retain_monthly), ("yearly", self.retain_yearly)):
            if not retain:
                continue
            if getattr(self, f"{kind}_by") == RuleBasis.DAY:
                if self.frequency == Frequency.WEEKLY:
                    errors[f"{kind}_by"] = _("A weekly schedule keeps the backup of a day of the week, not of a date.")
                check_days(f"{kind}_days", getattr(self, f"{kind}_days"), set(range(1, 32)) | {LAST_DAY},
                           _("Choose days of the month between 1 and 31, or the last day."))
            else:
                if getattr(self, f"{kind}_week") not in WeekOfMonth.values:
                    errors[f"{kind}_week"] = _("Choose a week of the month.")
                check_days(f"{kind}_weekdays", getattr(self, f"{kind}_weekdays"), scheduled,
                           _("Choose days of the week the schedule backs up on."))
        if self.retain_yearly:
            check_days("yearly_months", self.yearly_months, set(Month.values), _("Choose the months of the yearly rule."))
        return errors

    def most_points_kept(self):
        """How many recovery points the rules keep at most, at steady state."""
        def per_period(kind):
            by_day = getattr(self, f"{kind}_by") == RuleBasis.DAY
            return max(1, len(getattr(self, f"{kind}_days" if by_day else f"{kind}_weekdays") or []))

        weekly = (self.retain_weekly or 0) * max(1, len(self.weekly_days or []))
        monthly = (self.retain_monthly or 0) * per_period("monthly")
        yearly = (self.retain_yearly or 0) * per_period("yearly") * max(1, len(self.yearly_months or []))
        each = (self.retain_each or 0) * len(self.times()) if self.retain_each else 0
        return each + (self.retain_daily or 0) + weekly + monthly + yearly

    @property
    def is_weekly(self):
        return self.frequency == Frequency.WEEKLY

    def rule_descriptions(self):
        """Each retention rule in words: which backups it keeps, and for how long."""
        def days(values):
            return ", ".join(str(Weekday(day).label) for day in sorted(values))

        def which(kind):
            if getattr(self, f"{kind}_by") == RuleBasis.DAY:
                dates = sorted(getattr(self, f"{kind}_days"), key=lambda day: 99 if day == LAST_DAY else day)
                return _("day %(days)s") % {"days": ", ".join(str(_("last")) if day == LAST_DAY else str(day)
                                                             for day in dates)}
            return _("the %(week)s %(days)s") % {"week": str(WeekOfMonth(getattr(self, f"{kind}_week")).label).lower(),
                                                 "days": days(getattr(self, f"{kind}_weekdays"))}

        rules = []
        if self.retain_daily:
            rules.append(ngettext("Each day's backup, for %(count)d day", "Each day's backup, for %(count)d days",
                                  self.retain_daily) % {"count": self.retain_daily})
        if self.retain_weekly:
            rules.append(ngettext("The backup of %(days)s, for %(count)d week", "The backup of %(days)s, for %(count)d weeks",
                                  self.retain_weekly) % {
                "days": days(self.weekly_days), "count": self.retain_weekly})
        if self.retain_monthly:
            rules.append(ngettext("The backup of %(which)s of each month, for %(count)d month",
                                  "The backup of %(which)s of each month, for %(count)d months", self.retain_monthly) % {
                "which": which("monthly"), "count": self.retain_monthly})
        if self.retain_yearly:
            rules.append(ngettext("The backup of %(which)s of %(months)s, for %(count)d year",
                                  "The backup of %(which)s of %(months)s, for %(count)d years", self.retain_yearly) % {
                "which": which("yearly"), "count": self.retain_yearly,
                "months": ", ".join(str(Month(month).label) for month in sorted(self.yearly_months))})
        return rules

    def weekday_names(self):
        return [Weekday(day).label for day in sorted(self.weekdays)]
