"""Small helpers shared by the views: one view serves a full page and its HTMX partial."""

import json

from django.shortcuts import render


def wants_partial(request):
    """True for an HTMX request that swaps part of a page (not a boosted link or a history restore)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_page(request, page_template, partial_template, context, status=200):
    template = partial_template if wants_partial(request) else page_template
    return render(request, template, context, status=status)


def trigger(response, *events):
    """Add client-side events (HX-Trigger) to a response."""
    existing = json.loads(response.headers.get("HX-Trigger", "{}"))
    existing.update({event: True for event in events})
    response.headers["HX-Trigger"] = json.dumps(existing)
    return response


MAX_ID = 2**63 - 1  # the largest primary key a database column holds


def parse_ids(values):
    """Whole-number ids from a form, or None if any is not a valid id: ASCII digits only ("²", "١" and
    "１" are digits to Python, and int("１") is 1), no larger than a database key holds."""
    ids = []
    for value in values:
        if not (value.isascii() and value.isdigit()) or len(value) > 19 or int(value) > MAX_ID:
            return None
        ids.append(int(value))
    return ids


def selected_ids(request, name="selected"):
    """The ids a form posted (or a GET sent) under `name`; None if any is not a valid id."""
    return parse_ids((request.POST if request.method == "POST" else request.GET).getlist(name))
