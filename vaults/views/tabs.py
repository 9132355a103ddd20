"""The vault list, a new vault, and the vault's tabs (Quick Start, Dashboard, Registered and
Protected Items, Policies, an item's page)."""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from audit import trail
from jobs.choices import JobStatus
from portal.access import Action, requires
from portal.htmx import render_page, selected_ids, wants_partial
from repository import RepositoryError
from vaults import charts, queries, services
from vaults.choices import PROTECTED_ITEM_STATES, Consistency
from vaults.errors import Refused
from vaults.forms import SOFT_DELETE_RANGE_MESSAGE, VaultForm, VaultSettingsForm
from vaults.keys import KeyUnavailable
from vaults.models import Subscription, Vault
from vaults.views.base import ITEMS_PER_PAGE, refuse, vault_context, vault_view


@requires(Action.VIEW)
@require_GET
def vault_list(request):
    vaults = (
        Vault.objects.restrict(request.user)
        .select_related("subscription")
        .annotate(item_count=Count("items", distinct=True))
    )
    return render(request, "vaults/list.html", {"vaults": vaults})


@requires(Action.CHANGE)
@require_http_methods(["GET", "POST"])
def vault_create(request):
    """A new vault, in a subscription where the user's role may create one."""
    if not Subscription.objects.restrict(request.user, Action.CHANGE).exists():
        raise PermissionDenied(_("Your role in your subscriptions does not allow creating a vault."))
    form = VaultForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            vault = services.create_vault(user=request.user, **form.cleaned_data)
        except Refused as refusal:
            form.add_error("name", str(refusal))
        else:
            trail.note(request, scope=vault, target=vault.name, changes=trail.changes(
                {}, {"name": vault.name, "region": vault.region, "subscription": vault.subscription}))
            url = reverse("vaults:quick_start", args=[vault.pk])
            if request.htmx:
                response = HttpResponse(status=204)
                response.headers["HX-Redirect"] = url
                return response
            return redirect(url)
    if form.errors:
        trail.refused(request, trail.describe_errors(form.errors))
    status = 400 if form.errors else 200
    return render_page(request, "vaults/create.html", "vaults/partials/create_dialog.html", {"form": form}, status)


@vault_view(Action.VIEW)
@require_GET
def quick_start(request, vault):
    settings_form = VaultSettingsForm(instance=vault, may_make_immutable=vault.can["manage"])
    context = vault_context(request, vault, "quick_start", last_export=vault.key_exports.select_related("user").first(),
                            settings_form=settings_form, soft_delete_range=SOFT_DELETE_RANGE_MESSAGE)
    return render(request, "vaults/quick_start.html", context)


@vault_view(Action.CHANGE)
@require_POST
def vault_settings(request, vault):
    """The vault's own settings: the day of its weekly Verify, its soft-delete days, immutability."""
    form = VaultSettingsForm(request.POST, instance=vault, may_make_immutable=vault.can["manage"])
    if form.is_valid():
        # Only these columns (the storage total is a running sum jobs change meanwhile); and immutable
        # is only ever written as set, so a stale form cannot clear it.
        fields = ["verify_weekday", "soft_delete_days"] + (["immutable"] if vault.immutable else [])
        form.save(commit=False).save(update_fields=fields)
        trail.note(request, target=vault.name, changes=trail.form_changes(form))
        messages.success(request, _("The vault is now immutable.") if "immutable" in form.changed_data else
                         _("The vault's settings are saved."))
    else:
        refuse(request, " ".join(error for errors in form.errors.values() for error in errors))
    return redirect("vaults:quick_start", pk=vault.pk)


@vault_view(Action.MANAGE)
@require_POST
def vault_delete(request, vault):
    """An Owner deletes an empty vault, typing its name to confirm."""
    trail.note(request, target=vault.name)
    try:
        services.delete_vault(vault, request.POST.get("confirm_name", ""))
    except Refused as refusal:
        refuse(request, str(refusal))
        return redirect("vaults:quick_start", pk=vault.pk)
    except (RepositoryError, OSError, KeyUnavailable) as error:
        refuse(request, _("The vault's storage could not be removed: %(error)s") % {"error": error})
        return redirect("vaults:quick_start", pk=vault.pk)
    messages.success(request, _("The vault %(name)s and its storage are deleted.") % {"name": vault.name})
    return redirect("vaults:list")


@vault_view(Action.MANAGE)
@require_POST
def export_key(request, vault):
    """An Owner downloads the vault's key (recorded): with it and the storage, the backups can be read
    without the portal, and without it by nobody."""
    trail.note(request, target=vault.name)
    try:
        text = services.export_vault_key(vault, request.user, request.META.get("REMOTE_ADDR"))
    except KeyUnavailable as error:
        refuse(request, _("The vault's key cannot be exported: %(error)s") % {"error": error})
        return redirect("vaults:quick_start", pk=vault.pk)
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="vaultline-{slugify(vault.name) or "vault"}-{vault.uuid}.key"'
    response["Cache-Control"] = "no-store"
    return response


@vault_view(Action.VIEW)
@require_GET
@vary_on_headers("HX-Request")
def dashboard(request, vault):
    since = timezone.now() - timezone.timedelta(hours=24)
    # The Jobs tab's filter reads a local date-time, as its form field shows it.
    start = ("start", timezone.localtime(since).strftime("%Y-%m-%dT%H:%M"))
    job_links = {
        name: urlencode([("status", status) for status in statuses] + [start])
        for name, statuses in (("completed", JobStatus.succeeded()), ("failed", [JobStatus.FAILED]),
                               ("in_progress", JobStatus.active()))
    }
    # The page and the tiles' 5-second poll draw no chart: the page asks for them once it is shown (and
    # again when a job ends), so it answers as fast as the poll.
    if wants_partial(request) and request.GET.get("part") == "charts":
        return render(request, "vaults/partials/dashboard_charts.html", {
            "vault": vault, "jobs_chart": charts.jobs_per_day(vault), "storage_chart": charts.storage_over_time(vault),
            "points_chart": charts.points_of_items(vault), "consistency_choices": Consistency.choices})
    context = vault_context(request, vault, "dashboard", job_links=job_links, **queries.dashboard_counts(vault, since))
    return render_page(request, "vaults/dashboard.html", "vaults/partials/dashboard_tiles.html", context)


@vault_view(Action.VIEW)
@require_GET
@vary_on_headers("HX-Request")
def registered_items(request, vault):
    return _items_tab(request, vault, "registered_items", vault.items.select_related("vm"), "registered_table")


@vault_view(Action.VIEW)
@require_GET
@vary_on_headers("HX-Request")
def protected_items(request, vault):
    items = queries.in_name_order(
        vault.items.filter(protection_state__in=PROTECTED_ITEM_STATES).select_related("vm", "policy"))
    return _items_tab(request, vault, "protected_items", items, "protected_table", queries.add_recovery_points)


def _items_tab(request, vault, tab, items, table, add=list):
    """A page of items (`add` adds what a row shows beyond the item to the page's items); the table
    polls while any item is between two states."""
    page = Paginator(items, ITEMS_PER_PAGE).get_page(request.GET.get("page"))
    page.object_list = add(page.object_list)
    # The table refreshes itself with the rows ticked at that moment (htmx adds the form's values): its
    # own address keeps the page, never an old selection.
    refresh = request.GET.copy()
    refresh.pop("selected", None)
    context = vault_context(
        request, vault, tab, page=page, settling=any(item.is_settling for item in page),
        selected=set(selected_ids(request) or []), refresh_url=f"{request.path}?{refresh.urlencode()}",
    )
    return render_page(request, f"vaults/{tab}.html", f"vaults/partials/{table}.html", context)


@vault_view(Action.VIEW)
@require_GET
@vary_on_headers("HX-Request")
def item_detail(request, vault, item_pk):
    """One protected item: its state and its recovery points."""
    (item,) = queries.add_recovery_points([get_object_or_404(vault.items.select_related("vm", "policy"), pk=item_pk)])
    page = Paginator(vault.recovery_points.filter(vm=item.vm), ITEMS_PER_PAGE).get_page(request.GET.get("page"))
    page.object_list = queries.with_retention(page.object_list, item)
    context = vault_context(request, vault, "protected_items", item=item, page=page)
    if not wants_partial(request):  # the points' table refreshes alone; the timeline comes with the page
        context["timeline"] = charts.item_timeline(queries.with_retention(vault.recovery_points.filter(vm=item.vm), item))
    return render_page(request, "vaults/item.html", "vaults/partials/recovery_points.html", context)
