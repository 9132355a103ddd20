"""What staff change in Django's admin, from the admin's own log: one entry per object added, changed
or deleted, written once the request that did it has ended, so a form sent back with errors or a
confirmation page records nothing. An object still there names its subscription and vault; a
deleted one no longer can (its entry is in no subscription's log, only the admin's)."""

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.core.exceptions import ObjectDoesNotExist

from audit.models import Outcome
from audit.record import write

ACTIONS = {ADDITION: "admin:addition", CHANGE: "admin:change", DELETION: "admin:deletion"}


def last_logged():
    """Where the admin's log stands before a request (the newest row's id)."""
    return LogEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def record_since(request, since):
    for logged in LogEntry.objects.filter(pk__gt=since, user_id=request.user.pk).select_related("content_type"):
        try:
            changed = logged.get_edited_object()
        except (ObjectDoesNotExist, AttributeError):
            changed = None
        model = logged.content_type.model_class() if logged.content_type_id else None
        kind = str(model._meta.verbose_name) if model is not None else "object"
        write(request, action=ACTIONS.get(logged.action_flag, "admin:change"), outcome=Outcome.SUCCEEDED,
              target=f"{kind}: {logged.object_repr}", message=logged.get_change_message(), scope=changed)
