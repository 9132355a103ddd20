"""The job core's own page: every error code a job can end with, its message and what to do."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from jobs.errors import catalogue_entries
from portal.access import Action, requires


@requires(Action.VIEW)
@require_GET
def troubleshooting(request):
    return render(request, "jobs/troubleshooting.html", {"entries": catalogue_entries()})
