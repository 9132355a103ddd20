"""What every vault page shares: the vault a request may see, the frame around a tab, and the
answer to a command."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from jobs.models import Job
from portal.access import ROLES_FOR_ACTION
from portal.htmx import parse_ids, trigger, wants_partial
from vaults import states
from vaults.models import Membership, Vault
from vaults.views.tray import tray_context

ITEMS_PER_PAGE = 50
BAD_SELECTION = _lazy("The selection is not valid: choose the rows again.")


def get_vault(request, pk, action="view"):
    """The vault, if the user's subscriptions hold it (else 404) and their role allows `action` (else 403)."""
    def may(action):
        return Exists(Membership.objects.filter(subscription=OuterRef("subscription"), user=request.user,
                                                role__in=ROLES_FOR_ACTION[action]))

    vault = get_object_or_404(
        Vault.objects.restrict(request.user).select_related("subscription").annotate(
            can_change=may("change"), can_manage=may("manage")),
        pk=pk,
    )
    if (action == "change" and not vault.can_change) or (action == "manage" and not vault.can_manage):
        raise PermissionDenied(_("Your role in this subscription does not allow this."))
    return vault


def vault_context(request, vault, tab, **extra):
    """What every vault tab shows around its table: the header, the tabs, the command bar's rules
    and the tray."""
    return {
        "vault": vault,
        "tab": tab,
        **tray_context(vault, Job.objects.filter(vault=vault).active().order_by("created_at")),
        "can_change": vault.can_change,
        "allow": states.command_rules(),
        **extra,
    }


def command_response(request, vault, tab, *, jobs=(), error=None, status=None):
    """Answer a command: the notification tray (HTMX) or a redirect back to the tab (plain POST).
    A refusal is a 409 (the state does not allow it), input the page never sends a 400."""
    if not wants_partial(request):
        if error:
            messages.error(request, error)
        return redirect(f"vaults:{tab}", pk=vault.pk)
    status = status or (409 if error else 200)
    response = render(request, "vaults/partials/tray.html", tray_context(vault, jobs, error), status=status)
    response.headers["HX-Retarget"] = "#tray"
    response.headers["HX-Reswap"] = "innerHTML"
    return trigger(response, "vaultChanged", "closeModal")


def whole_number(value):
    ids = parse_ids([value or ""])
    return ids[0] if ids else None
