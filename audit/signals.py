"""Sign-ins, sign-outs and failed sign-ins, from Django's own signals (pages, the admin and the API's
tokens alike)."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from audit.models import Outcome
from audit.record import write

SIGN_IN, SIGN_OUT = "login", "logout"


@receiver(user_logged_in)
def signed_in(sender, request, user, **kwargs):
    write(request, action=SIGN_IN, outcome=Outcome.SUCCEEDED, user=user)


@receiver(user_logged_out)
def signed_out(sender, request, user, **kwargs):
    if user is not None:
        write(request, action=SIGN_OUT, outcome=Outcome.SUCCEEDED, user=user)


@receiver(user_login_failed)
def sign_in_failed(sender, credentials, request=None, reason="Sign-in failed", **kwargs):
    # Only the name typed is kept (Django hides the password in `credentials`; an API token is never in it).
    write(request, action=SIGN_IN, outcome=Outcome.DENIED, user=None,
          username=str(credentials.get("username", "")), message=reason)
