"""What every vault page shares: the vault a request may see, the frame around a tab, and the
answer to a command."""

import functools

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from jobs.models import Job
from portal.access import Action, allows, permissions, requires
from portal.htmx import parse_ids, trigger, wants_partial
from vaults import states
from vaults.models import Vault
from vaults.views.tray import tray_context

ITEMS_PER_PAGE = 50
BAD_SELECTION = _lazy("The selection is not valid: choose the rows again.")


def get_vault(request, pk, action=Action.VIEW):
    """The vault, if the user's subscriptions hold it (else 404) and their role allows `action` (else
    403); `vault.can` says what else the role allows, for the command bar."""
    vault = get_object_or_404(
        Vault.objects.restrict(request.user).with_role(request.user).select_related("subscription"), pk=pk)
    if not allows(vault.role, action):
        raise PermissionDenied(_("Your role in this subscription does not allow this."))
    vault.can = permissions(vault.role)
    return vault


def vault_view(action):
    """A view of one vault (the URL's `pk`): called with the vault, once the user's role allows
    `action`. It checks before anything else, so a refusal is the same whatever the method."""
    def decorate(view):
        @functools.wraps(view)
        def with_vault(request, pk, **kwargs):
            return view(request, get_vault(request, pk, action), **kwargs)

        return requires(action, on="vault")(with_vault)

    return decorate


def vault_context(request, vault, tab, **extra):
    """What every vault tab shows around its table: the header, the tabs, the command bar's rules
    and the tray."""
    return {
        "vault": vault,
        "tab": tab,
        **tray_context(vault, Job.objects.filter(vault=vault).active().order_by("created_at")),
        "can": vault.can,
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
