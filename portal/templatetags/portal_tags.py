from django import template
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def duration(value):
    """A timedelta as a person reads it: '42 s', '3 min 5 s', '2 h 10 min'."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    if seconds < 60:
        return _("%(s)d s") % {"s": seconds}
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return _("%(m)d min %(s)d s") % {"m": minutes, "s": seconds}
    hours, minutes = divmod(minutes, 60)
    return _("%(h)d h %(m)d min") % {"h": hours, "m": minutes}
