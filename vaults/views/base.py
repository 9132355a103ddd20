"""What every vault page shares: the vault a request may see, the frame around a tab, and the
answer to a command."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _lazy

from audit import trail
from jobs.models import Job
from portal.access import object_view
from portal.htmx import parse_ids, trigger, wants_partial
from vaults import states
from vaults.models import Vault
from vaults.views.tray import tray_context

ITEMS_PER_PAGE = 50
BAD_SELECTION = _lazy("The selection is not valid: choose the rows again.")


def vault_view(action):
    """A view of one vault (the URL's `pk`), called with the vault once the user's role allows `action`."""
    return object_view(Vault.objects.select_related("subscription"), action, on="vault")


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
    A refusal is a 409 (the state does not allow it), input the page never sends a 400. The audit log
    learns what the command started jobs for, or why it was refused."""
    if jobs:
        trail.note(request, target=", ".join(job.entity_name for job in jobs))
    if error:
        trail.refused(request, error)
    if not wants_partial(request):
        if error:
            messages.error(request, error)
        return redirect(f"vaults:{tab}", pk=vault.pk)
    status = status or (409 if error else 200)
    response = render(request, "vaults/partials/tray.html", tray_context(vault, jobs, error), status=status)
    response.headers["HX-Retarget"] = "#tray"
    # A refusal goes above what the tray already says (a second click must not hide the first's jobs).
    response.headers["HX-Reswap"] = "afterbegin" if error else "innerHTML"
    return trigger(response, "vaultChanged", "closeModal")


def refuse(request, text):
    """A refusal shown on the next page (a plain POST's redirect), and recorded in the audit log."""
    messages.error(request, text)
    trail.refused(request, text)


def whole_number(value):
    ids = parse_ids([value or ""])
    return ids[0] if ids else None
