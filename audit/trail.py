"""What a view tells the audit log about the request it handles. The middleware writes the entry
once the response is known; a view only adds what the request alone does not say: what it acted on,
what it changed, why it refused.

    trail.note(request, target="web01", changes=trail.changes(before, after))
    trail.refused(request, str(refusal))
    trail.not_a_command(request)        # a wizard's step, a question asking for confirmation
"""

import datetime

from audit.models import Outcome

_ATTRIBUTE = "audit_note"


def _note(request):
    note = getattr(request, _ATTRIBUTE, None)
    if note is None:
        note = {}
        setattr(request, _ATTRIBUTE, note)
        # DRF wraps the request; the middleware reads the Django request underneath.
        inner = getattr(request, "_request", None)
        if inner is not None:
            setattr(inner, _ATTRIBUTE, note)
    return note


def noted(request):
    return getattr(request, _ATTRIBUTE, None) or {}


def note(request, *, target=None, changes=None, scope=None, action=None, record=True):
    """Say what the request acted on (`target`), the fields it changed ({field: [before, after]}),
    the object it was about when the URL does not name it (`scope`: a vault or subscription), the
    action's name when it is not the route's. `record` makes it an entry even where the route's rule
    would not (a GET that hands out data)."""
    entry = _note(request)
    if target is not None:
        entry["target"] = target
    if changes:
        entry.setdefault("changes", {}).update(changes)
    if scope is not None:
        entry["scope"] = scope
    if action is not None:
        entry["action"] = action
    if record:
        entry["record"] = True


def refused(request, message, **details):
    """The command was allowed, but the state of things or its input refused it."""
    note(request, record=False, **details)
    entry = _note(request)
    entry["outcome"] = Outcome.REFUSED
    entry["message"] = str(message)


def not_a_command(request):
    """This request is a step on the way to a command (the next page of a wizard, a question): no entry."""
    _note(request)["skip"] = True


def changes(before, after):
    """{field: [before, after]} of the fields whose values differ, as text a person reads."""
    return {name: [_text(before.get(name)), _text(value)]
            for name, value in after.items() if _text(before.get(name)) != _text(value)}


def form_changes(form):
    """What a bound, valid form changes: its changed fields, before and after."""
    return {name: [_text(form.initial.get(name)), _text(form.cleaned_data.get(name))]
            for name in form.changed_data if name in form.cleaned_data}


def _text(value):
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(part) for part in value)
    if isinstance(value, datetime.time):
        return value.strftime("%H:%M")  # a time of day, as the forms show it
    return str(value)


def describe_errors(errors):
    """A form's or serializer's errors on one line: 'name: This field is required. retain_daily: …'"""
    parts = []
    for field, messages in errors.items():
        if isinstance(messages, dict):
            messages = [describe_errors(messages)]
        elif not isinstance(messages, (list, tuple)):
            messages = [messages]
        text = " ".join(str(message) for message in messages)
        parts.append(text if field in ("__all__", "non_field_errors") else f"{field}: {text}")
    return " ".join(parts)
