"""Making, recognising and revoking personal API tokens."""

import datetime
import hashlib
import secrets

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from api.models import ApiToken

PREFIX = "vl_"
EXPIRY_DAYS = (7, 30, 90, 180, 365)
# A token's last use is written at most once a minute: a script's every call must not be a write.
LAST_USED_PRECISION = datetime.timedelta(minutes=1)


class TokenRefused(Exception):
    pass


def digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def issue(user, name, days, read_only=False):
    """(the row, the token): the token is returned this once and never stored."""
    name = name.strip()
    if not name:
        raise TokenRefused(_("Give the token a name."))
    if days not in EXPIRY_DAYS:
        raise TokenRefused(_("A token expires after 7, 30, 90, 180 or 365 days."))
    token = PREFIX + secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            row = ApiToken.objects.create(
                user=user, name=name, digest=digest(token), prefix=token[:10], read_only=read_only,
                expires_at=timezone.now() + datetime.timedelta(days=days))
    except IntegrityError:
        raise TokenRefused(_("You already have a token named %(name)s.") % {"name": name}) from None
    return row, token


def find(token):
    """The token's row, usable or not (None if no token has this digest)."""
    if not isinstance(token, str) or not token.startswith(PREFIX) or len(token) > 100:
        return None
    return ApiToken.objects.select_related("user").filter(digest=digest(token)).first()


def mark_used(row):
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=row.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_PRECISION)).update(last_used_at=now)


def revoke(row):
    """Revoked for good: a revoked token is never usable again."""
    ApiToken.objects.filter(pk=row.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
