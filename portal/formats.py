"""Numbers as a person reads them, in the current language: shared by the pages and what jobs say."""

from django.utils.translation import gettext as _


def duration_text(seconds):
    """'42 s', '3 min 5 s', '2 h 10 min' (in the current language)."""
    seconds = int(seconds)
    if seconds < 60:
        return _("%(s)d s") % {"s": seconds}
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return _("%(m)d min %(s)d s") % {"m": minutes, "s": seconds}
    hours, minutes = divmod(minutes, 60)
    return _("%(h)d h %(m)d min") % {"h": hours, "m": minutes}
