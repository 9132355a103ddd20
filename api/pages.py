"""The API tokens page (top bar): everyone signed in makes, sees and revokes their own tokens. A token
is shown once, when it is made; making and revoking one are recorded in the audit log."""

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_GET, require_POST

from api import tokens
from api.models import ApiToken
from audit import trail
from portal.access import Action, requires


class TokenForm(forms.Form):
    name = forms.CharField(label=_lazy("Name"), max_length=100,
                           help_text=_lazy("What it is for, e.g. the script or machine that uses it."))
    days = forms.TypedChoiceField(label=_lazy("Expires after"), coerce=int, initial=90)
    read_only = forms.BooleanField(label=_lazy("Read-only: it can read, never change anything"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["days"].choices = [(days, _("%(days)d days") % {"days": days}) for days in tokens.EXPIRY_DAYS]


def _page(request, form, new_token=None, status=200):
    context = {"tokens": ApiToken.objects.filter(user=request.user), "form": form, "new_token": new_token}
    return render(request, "api/tokens.html", context, status=status)


@requires(Action.VIEW)
@require_GET
def token_list(request):
    return _page(request, TokenForm())


@requires(Action.VIEW)
@require_POST
def token_create(request):
    form = TokenForm(request.POST)
    trail.note(request, action="tokens:create", target=request.POST.get("name", ""))
    if form.is_valid():
        try:
            row, token = tokens.issue(request.user, form.cleaned_data["name"], form.cleaned_data["days"],
                                      form.cleaned_data["read_only"])
        except tokens.TokenRefused as refusal:
            form.add_error("name", str(refusal))
        else:
            trail.note(request, changes={"expires": ["", row.expires_at.date().isoformat()],
                                         "read_only": ["", str(row.read_only)]})
            response = _page(request, TokenForm(), new_token=token, status=201)
            response["Cache-Control"] = "no-store"  # the token is in this page, and only in it
            return response
    trail.refused(request, trail.describe_errors(form.errors))
    return _page(request, form, status=400)


@requires(Action.VIEW)
@require_POST
def token_revoke(request, pk):
    row = get_object_or_404(ApiToken.objects.filter(user=request.user), pk=pk)
    trail.note(request, action="tokens:revoke", target=str(row))
    tokens.revoke(row)
    messages.success(request, _("The token %(name)s is revoked: it no longer signs anyone in.") % {"name": row.name})
    return redirect("tokens:list")
