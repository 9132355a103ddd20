"""The vault's Jobs tab, a job's page, and the notification tray's poll."""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from audit import trail
from jobs.models import ArchivedJob, Job
from portal.access import Action, allows
from portal.htmx import parse_ids, render_page, trigger, wants_partial
from portal.keyset import BadCursor, keyset_page
from vaults.errors import Refused
from vaults.filters import ArchivedJobFilter, JobFilter
from vaults.operations import retry as retry_operations
from vaults.views.base import command_response, refuse, vault_context, vault_view
from vaults.views.tray import tray_context

JOBS_PER_PAGE = 25
HTTP_STOP_POLLING = 286  # htmx stops polling on this status


@vault_view(Action.VIEW)
@require_GET
@vary_on_headers("HX-Request")
def job_list(request, vault):
    return _jobs_tab(request, vault, JobFilter, Job.objects.filter(vault=vault),
                     has_archive=vault.archived_jobs.exists())


@vault_view(Action.VIEW)
@require_GET
@vary_on_headers("HX-Request")
def archived_job_list(request, vault):
    """Older jobs: those the nightly archive moved out of the jobs table (jobs/archive.py)."""
    return _jobs_tab(request, vault, ArchivedJobFilter, ArchivedJob.objects.filter(vault=vault), archive=True,
                     archive_days=settings.JOB_ARCHIVE_DAYS)


def _jobs_tab(request, vault, filter_class, jobs, **extra):
    filterset = filter_class(request.GET or None, queryset=jobs.select_related("created_by"))
    # A filter that is not valid says why (beside its field), never shows more or fewer jobs than asked.
    invalid = filterset.is_bound and not filterset.is_valid()
    jobs = filterset.queryset.none() if invalid else filterset.qs
    cursor = request.GET.get("cursor")
    try:
        page = keyset_page(jobs, cursor, time_field="created_at", per_page=JOBS_PER_PAGE)
    except BadCursor as bad:  # said where a filter's error is, with no rows
        invalid, page = True, None
        filterset.form.add_error(None, str(bad))
    query = request.GET.copy()
    query.pop("cursor", None)
    # While a shown job runs, the table refreshes every second: a worker's change shows at once.
    live = page is not None and any(job.is_active for job in page.object_list)
    context = vault_context(request, vault, "jobs", filter=filterset, page=page, query=query.urlencode(),
                            cursor=cursor, live=live, **extra)
    return render_page(request, "vaults/jobs.html", "vaults/partials/job_table.html", context,
                       status=400 if invalid else 200)


@vault_view(Action.VIEW)
@require_GET
@vary_on_headers("HX-Request")
def job_detail(request, vault, job_pk):
    job = Job.objects.filter(vault=vault).select_related("created_by").filter(pk=job_pk).first()
    if job is None:  # archived since the link was made: it is read there now
        get_object_or_404(ArchivedJob.objects.filter(vault=vault), pk=job_pk)
        url = reverse("vaults:archived_job", kwargs={"pk": vault.pk, "archived_pk": job_pk})
        if request.htmx:  # a poll of its summary: the whole page moves there, not into the summary
            response = HttpResponse(status=HTTP_STOP_POLLING)
            response.headers["HX-Redirect"] = url
            return response
        return redirect(url)
    response = render_page(request, "vaults/job.html", "vaults/partials/job_summary.html", _job_context(
        request, vault, job))
    if request.htmx and not job.is_active:
        response.status_code = HTTP_STOP_POLLING
    return response


@vault_view(Action.VIEW)
@require_GET
def archived_job_detail(request, vault, archived_pk):
    job = get_object_or_404(ArchivedJob.objects.filter(vault=vault).select_related("created_by"), pk=archived_pk)
    return render(request, "vaults/job.html", _job_context(request, vault, job))


def _job_context(request, vault, job):
    """A job's (or an archived job's) summary and the commands that apply to it now (Cancel, Retry,
    View item)."""
    retry = None if job.archived else retry_operations.can_retry(job)
    return vault_context(request, vault, "jobs", job=job, events=job.event_rows(), subtasks=job.subtask_rows(),
                         item=vault.items.filter(vm=job.vm_id).first() if job.vm_id else None,
                         may_retry=retry is not None and allows(vault.role, retry))


@vault_view(Action.OPERATE)
@require_POST
def job_cancel(request, vault, job_pk):
    """Cancel: a queued job ends at once; a running one stops at its next step, keeping nothing."""
    job = get_object_or_404(Job.objects.filter(vault=vault), pk=job_pk)
    trail.note(request, target=str(job))
    outcome = job.cancel()
    if outcome is None:
        refuse(request, _("The job had already ended."))
    if not wants_partial(request):
        return redirect("vaults:job", pk=vault.pk, job_pk=job.pk)
    job.refresh_from_db()
    response = render(request, "vaults/partials/job_summary.html", _job_context(request, vault, job),
                      status=200 if outcome else 409)
    return trigger(response, "vaultChanged")


@vault_view(Action.OPERATE)
@require_POST
def job_retry(request, vault, job_pk):
    """Retry: the same operation on the same item, started again (its own rules and role apply)."""
    job = get_object_or_404(Job.objects.filter(vault=vault), pk=job_pk)
    trail.note(request, target=str(job))
    needed = retry_operations.can_retry(job)
    if needed is not None and not allows(vault.role, needed):
        raise PermissionDenied(_("Your role in this subscription does not allow this."))
    try:
        jobs = retry_operations.start_again(job, request.user)
    except Refused as refusal:
        return command_response(request, vault, "jobs", error=str(refusal))
    return command_response(request, vault, "jobs", jobs=jobs)


@vault_view(Action.VIEW)
@require_GET
def tray(request, vault):
    """The notification tray for the jobs a command started: polled until they have all ended."""
    ids = parse_ids(request.GET.getlist("job"))
    if ids is None:
        return HttpResponseBadRequest(_("The job ids are not valid."))
    jobs = list(Job.objects.filter(vault=vault, pk__in=ids).order_by("created_at"))
    response = render(request, "vaults/partials/tray.html", tray_context(vault, jobs))
    if not any(job.is_active for job in jobs):
        response.status_code = HTTP_STOP_POLLING
        trigger(response, "vaultChanged")
    return response
