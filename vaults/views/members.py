"""The subscriptions a user belongs to, and a subscription's Members page: every member sees who
else is in it; an Owner adds members, changes their roles and removes them."""

from django import forms
from django.contrib import messages
from django.db.models import Count, OuterRef, Subquery
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_GET, require_POST

from audit import trail
from portal.access import Action, Role, object_view, requires
from vaults import members
from vaults.errors import Refused
from vaults.models import Membership, Subscription
from vaults.views.base import refuse


class AddMemberForm(forms.Form):
    user = forms.CharField(label=_lazy("User name or e-mail"), max_length=254)
    role = forms.ChoiceField(label=_lazy("Role"), choices=Role.choices, initial=Role.READER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_lazy("Role"), choices=Role.choices)


def subscription_view(action):
    """A view of one subscription (the URL's `pk`), called with it once the user's role allows `action`."""
    return object_view(Subscription.objects.all(), action, on="subscription")


@requires(Action.VIEW)
@require_GET
def subscription_list(request):
    members_of = Membership.objects.filter(subscription=OuterRef("pk")).order_by().values("subscription")
    subscriptions = Subscription.objects.restrict(request.user).annotate(
        vault_count=Count("vaults", distinct=True),
        member_count=Subquery(members_of.annotate(count=Count("pk")).values("count")))
    return render(request, "vaults/subscriptions.html", {"subscriptions": subscriptions, "roles": dict(Role.choices)})


@subscription_view(Action.VIEW)
@require_GET
def member_list(request, subscription):
    return _members_page(request, subscription, AddMemberForm())


def _members_page(request, subscription, add_form, status=200):
    memberships = subscription.memberships.select_related("user").order_by("user__username")
    context = {"subscription": subscription, "memberships": memberships, "roles": Role.choices,
               "add_form": add_form, "can": subscription.can}
    return render(request, "vaults/members.html", context, status=status)


@subscription_view(Action.MANAGE)
@require_POST
def member_add(request, subscription):
    form = AddMemberForm(request.POST)
    if form.is_valid():
        try:
            membership = members.add_member(subscription, form.cleaned_data["user"], form.cleaned_data["role"])
        except Refused as refusal:
            form.add_error("user", str(refusal))
        else:
            trail.note(request, target=membership.user.get_username(),
                       changes={"role": ["", membership.get_role_display()]})
            messages.success(request, _("%(user)s is now a member, as %(role)s.") % {
                "user": membership.user.get_username(), "role": membership.get_role_display()})
            return redirect("subscriptions:members", pk=subscription.pk)
    trail.refused(request, trail.describe_errors(form.errors))
    return _members_page(request, subscription, form, status=400)


@subscription_view(Action.MANAGE)
@require_POST
def member_role(request, subscription, member_pk):
    membership = get_object_or_404(subscription.memberships.select_related("user"), pk=member_pk)
    trail.note(request, target=membership.user.get_username())
    form = RoleForm(request.POST)
    if not form.is_valid():
        refuse(request, _("Choose one of the roles."))
        return redirect("subscriptions:members", pk=subscription.pk)
    before = membership.get_role_display()
    try:
        members.change_role(membership, form.cleaned_data["role"])
    except Refused as refusal:
        refuse(request, str(refusal))
    else:
        trail.note(request, changes=trail.changes({"role": before}, {"role": membership.get_role_display()}))
        messages.success(request, _("%(user)s is now %(role)s.") % {
            "user": membership.user.get_username(), "role": membership.get_role_display()})
    return redirect("subscriptions:members", pk=subscription.pk)


@subscription_view(Action.MANAGE)
@require_POST
def member_remove(request, subscription, member_pk):
    membership = get_object_or_404(subscription.memberships.select_related("user"), pk=member_pk)
    role = membership.get_role_display()
    trail.note(request, target=membership.user.get_username())
    try:
        members.remove_member(membership)
    except Refused as refusal:
        refuse(request, str(refusal))
    else:
        trail.note(request, changes={"role": [role, ""]})
        messages.success(request, _("%(user)s is no longer a member.") % {"user": membership.user.get_username()})
    if membership.user == request.user and membership.pk is None:
        return redirect("subscriptions:list")  # the Owner left: the page is no longer theirs
    return redirect("subscriptions:members", pk=subscription.pk)
