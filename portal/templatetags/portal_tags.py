from django import template

from portal.formats import duration_text

register = template.Library()


@register.filter
def duration(value):
    """A timedelta as a person reads it: '42 s', '3 min 5 s', '2 h 10 min'."""
    if value is None:
        return "—"
    return duration_text(value.total_seconds())
