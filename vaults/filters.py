import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from jobs.choices import JobStatus
from jobs.models import ArchivedJob, Job
from portal.filters import TimeRangeForm, UtcDateTimeFilter
from vaults.choices import Operation


class JobFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        distinct=False,  # a job has one status: DISTINCT over every column would sort the whole vault
        label=_("Status"), choices=JobStatus.choices, widget=forms.CheckboxSelectMultiple
    )
    operation = django_filters.ChoiceFilter(label=_("Operation"), choices=Operation.choices, empty_label=_("All"))
    start = UtcDateTimeFilter(
        label=_("From"), field_name="created_at", lookup_expr="gte",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    end = UtcDateTimeFilter(
        label=_("To"), field_name="created_at", lookup_expr="lte",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    class Meta:
        model = Job
        form = TimeRangeForm
        fields = ["status", "operation", "start", "end"]


class ArchivedJobFilter(JobFilter):
    class Meta(JobFilter.Meta):
        model = ArchivedJob
