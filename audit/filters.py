import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from audit import actions
from audit.models import AuditEntry, Outcome
from portal.filters import TimeRangeForm, UtcDateTimeFilter


class AuditFilter(django_filters.FilterSet):
    user = django_filters.CharFilter(label=_("User"), field_name="username", lookup_expr="iexact",
                                     max_length=150)
    action = django_filters.ChoiceFilter(label=_("Action"), choices=actions.choices, empty_label=_("All"))
    outcome = django_filters.ChoiceFilter(label=_("Outcome"), choices=Outcome.choices, empty_label=_("All"))
    start = UtcDateTimeFilter(
        label=_("From"), field_name="at", lookup_expr="gte", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    end = UtcDateTimeFilter(
        label=_("To"), field_name="at", lookup_expr="lte", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

    class Meta:
        model = AuditEntry
        form = TimeRangeForm
        fields = ["user", "action", "outcome", "start", "end"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.form.fields["user"].widget.attrs.update(autocomplete="off")
