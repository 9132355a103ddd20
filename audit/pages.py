"""A page of the audit log (a vault's, a subscription's): filtered, 50 entries a page, or the whole
filtered log as CSV. The apps that own vaults and subscriptions choose the entries and the frame."""

import csv

from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.text import slugify

from audit.filters import AuditFilter

ENTRIES_PER_PAGE = 50
CSV_COLUMNS = ["time", "user", "token", "address", "user_agent", "subscription", "vault", "action", "target",
               "outcome", "message", "changes"]
# A spreadsheet runs a cell that starts like a formula: such cells get a leading quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def audit_page(request, entries, template, context, filename):
    """The filtered `entries` as a page of `template` (with `context`), or as CSV with ?export=csv.
    A filter that is not valid is refused (400), never read as no filter."""
    filterset = AuditFilter(request.GET or None, queryset=entries)
    if filterset.is_bound and not filterset.is_valid():
        page = Paginator(entries.none(), ENTRIES_PER_PAGE).get_page(1)
        return render(request, template, {**context, "filter": filterset, "page": page, "query": ""}, status=400)
    if request.GET.get("export") == "csv":
        return _csv(filterset.qs, filename)
    page = Paginator(filterset.qs, ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    export = query.copy()
    export["export"] = "csv"
    return render(request, template, {**context, "filter": filterset, "page": page, "query": query.urlencode(),
                                      "export_query": export.urlencode()})


def _csv(entries, filename):
    class Echo:
        def write(self, value):
            return value

    writer = csv.writer(Echo())

    def rows():
        yield writer.writerow(CSV_COLUMNS)
        for entry in entries.iterator(chunk_size=500):
            yield writer.writerow([_cell(value) for value in (
                entry.at.isoformat(), entry.username, entry.token_name, entry.address or "", entry.user_agent,
                entry.subscription_name, entry.vault_name, entry.action, entry.target, entry.outcome, entry.message,
                "; ".join(f"{name}: {before} -> {after}" for name, (before, after) in entry.changes.items()),
            )])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="audit-{slugify(filename) or "log"}-{stamp}.csv"'
    return response


def _cell(value):
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
