"""`Authorization: Bearer vl_…`: a personal token. A token that is unknown, expired, revoked or whose
user is inactive is a failed sign-in (recorded, named after the token's owner where there is one)."""

from django.contrib.auth.signals import user_login_failed
from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions

from api import tokens


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            return self._fail(request, None, _("The Authorization header must be 'Bearer' and one token."))
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError:
            return self._fail(request, None, _("The token is not valid."))
        row = tokens.find(token)
        if row is None:
            return self._fail(request, None, _("The token is not valid."))
        if row.revoked_at is not None:
            return self._fail(request, row, _("The token was revoked."))
        if not row.is_usable:
            return self._fail(request, row, _("The token has expired."))
        if not row.user.is_active:
            return self._fail(request, row, _("The token's user is not active."))
        tokens.mark_used(row)
        return row.user, row

    def authenticate_header(self, request):
        return self.keyword

    @staticmethod
    def _fail(request, row, message):
        user_login_failed.send(sender=BearerTokenAuthentication, request=request._request, reason=message,
                               credentials={"username": row.user.get_username() if row else ""})
        raise exceptions.AuthenticationFailed(message)
