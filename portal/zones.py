"""Which time zone a request's times are shown in: the one the user chose (kept in their session at
sign-in), else their browser's (a cookie static/portal.js sets), else the server's TIME_ZONE."""

import zoneinfo
from functools import cache

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.utils import timezone

BROWSER_COOKIE = "vaultline_tz"
SESSION_KEY = "time_zone"


@cache
def known_zones():
    """The zones a person can choose: the places (Area/City) and UTC. Not Etc/GMT±N, whose signs
    PostgreSQL reads the POSIX way round, nor the system's aliases (localtime, Factory)."""
    return frozenset(name for name in zoneinfo.available_timezones()
                     if name == "UTC" or ("/" in name and not name.startswith(("Etc/", "SystemV/", "posix/", "right/"))))


def valid(name):
    return name if isinstance(name, str) and name in known_zones() else None


def chosen(request):
    """The zone the user chose, else their browser's (None: the server's)."""
    session = getattr(request, "session", None)
    return valid(session.get(SESSION_KEY) if session is not None else None) or valid(request.COOKIES.get(BROWSER_COOKIE))


class TimeZoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = chosen(request)
        if zone:
            timezone.activate(zoneinfo.ZoneInfo(zone))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


@receiver(user_logged_in)
def remember_the_chosen_zone(sender, request, user, **kwargs):
    from portal.models import Preferences

    if request is None or not hasattr(request, "session"):
        return
    zone = Preferences.objects.filter(user=user).values_list("time_zone", flat=True).first()
    if valid(zone):
        request.session[SESSION_KEY] = zone
