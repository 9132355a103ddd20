"""Sign-ins, sign-outs and failed sign-ins, from Django's own signals (for the pages, the admin and the
API's tokens alike).

A failed sign-in names the user when there is one by that name; a name no user has may be a
password typed in the wrong field, so only its first letter and length are kept. Failures from one
address for one name are recorded once a minute, so a script hammering the door cannot fill the log."""

import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.utils import timezone

from audit.models import AuditEntry, Outcome
from audit.record import address_of, write

SIGN_IN, SIGN_OUT = "login", "logout"
REPEATS_WITHIN = datetime.timedelta(minutes=1)


@receiver(user_logged_in)
def signed_in(sender, request, user, **kwargs):
    write(request, action=SIGN_IN, outcome=Outcome.SUCCEEDED, user=user)


@receiver(user_logged_out)
def signed_out(sender, request, user, **kwargs):
    if user is not None:
        write(request, action=SIGN_OUT, outcome=Outcome.SUCCEEDED, user=user)


@receiver(user_login_failed)
def sign_in_failed(sender, credentials, request=None, reason="Sign-in failed", **kwargs):
    # Django hides the password in `credentials`; an API token is never in it.
    name = shown_name(str(credentials.get("username", "")))
    if request is not None and repeated(request, name):
        return
    write(request, action=SIGN_IN, outcome=Outcome.DENIED, user=None, username=name, message=reason)


def shown_name(typed):
    if not typed or get_user_model().objects.filter(username__iexact=typed).exists():
        return typed
    return f"{typed[:1]}… ({len(typed)} characters, no such user)"


def repeated(request, name):
    """A failed sign-in or refusal already recorded for this address and name within the minute."""
    return AuditEntry.objects.filter(
        address=address_of(request), username=name, outcome=Outcome.DENIED,
        at__gte=timezone.now() - REPEATS_WITHIN).exists()
