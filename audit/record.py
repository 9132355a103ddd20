"""Writing an entry. Text from the request is stored as it came, without NUL (PostgreSQL refuses it)
and cut to its column; an address keeps no IPv6 zone. An entry that cannot be written is logged, and
never turns a command that was done into an error page."""

import ipaddress
import logging

from django.db import transaction

from audit.models import AuditEntry

log = logging.getLogger(__name__)


def clean(text, length=None):
    text = str(text or "").replace("\x00", "")
    return text[:length] if length else text


def address_of(request):
    """The client's address (REMOTE_ADDR: behind a proxy, the proxy's), or None."""
    value = request.META.get("REMOTE_ADDR", "").split("%", 1)[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def scope_fields(scope):
    """The subscription and vault an object belongs to, from its `audit_scope()`."""
    if scope is None or not hasattr(scope, "audit_scope"):
        return {}
    subscription, vault = scope.audit_scope()
    fields = {}
    if subscription is not None:
        fields.update(subscription_id=subscription.pk, subscription_name=clean(subscription.name, 100))
    if vault is not None:
        fields.update(vault_id=vault.pk, vault_name=clean(vault.name, 50))
    return fields


def write(request, *, action, outcome, user=None, username=None, status_code=None, target="", message="",
          changes=None, scope=None):
    """Add one entry about `request` (None for work no request asked for)."""
    user = user if user is not None else getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    token = getattr(request, "auth", None)
    fields = dict(
        user_id=user.pk if signed_in else None,
        username=clean(username if username is not None else (user.get_username() if signed_in else ""), 150),
        token_name=clean(getattr(token, "name", ""), 100),
        action=clean(action, 100),
        outcome=outcome,
        status_code=status_code,
        target=clean(target, 300),
        message=clean(message, 2000),
        changes=changes or {},
        **scope_fields(scope),
    )
    if request is not None:
        fields.update(
            address=address_of(request),
            user_agent=clean(request.META.get("HTTP_USER_AGENT"), 300),
            method=clean(request.method, 10),
            path=clean(request.path, 300),
        )
    try:
        with transaction.atomic():  # a savepoint: a failed write leaves a surrounding transaction usable
            return AuditEntry.objects.create(**fields)
    except Exception:  # the log must not undo what was done; it says it lost an entry
        log.exception("Could not write the audit entry for %s %s", action, outcome)
        return None
