"""Filters the list pages and the API share."""

import datetime

import django_filters
from django import forms
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _
from django_filters.fields import IsoDateTimeField


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, kept in UTC: any offset a client writes ("+19:42") is read, and the
    database is never handed one it refuses. A time that falls outside the years 1 to 9999 in UTC is
    refused with a message."""

    default_error_messages = {"out_of_range": _("Give a time between the years 1 and 9999.")}

    def to_python(self, value):
        try:
            parsed = super().to_python(value)
        except OverflowError:
            raise forms.ValidationError(self.error_messages["out_of_range"], code="out_of_range") from None
        if parsed is None or parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(datetime.timezone.utc)
        except OverflowError:
            raise forms.ValidationError(self.error_messages["out_of_range"], code="out_of_range") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class TimeRangeForm(forms.Form):
    """A filter form with From (`start`) and To (`end`): a To earlier than From says so."""

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            try:
                shown = formats.date_format(timezone.localtime(start), "SHORT_DATETIME_FORMAT")
            except OverflowError:  # at the calendar's edge in the reader's zone: said in UTC
                shown = start.isoformat()
            self.add_error("end", _("“To” is earlier than “From”: choose a To after %(start)s.") % {"start": shown})
        return data
