"""Who may see and change what: a user's role in each subscription, the actions each role allows,
and the one queryset every view gets its objects through. Any model a subscription holds names the
path to it in `subscription_path`."""

import functools

from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import F
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    CONTRIBUTOR = "contributor", _("Backup Contributor")
    OPERATOR = "operator", _("Backup Operator")
    READER = "reader", _("Backup Reader")


class Action(models.TextChoices):
    VIEW = "view", _("see everything the subscription holds")
    # Day-to-day work with what exists: discover, register, protect with an existing policy,
    # Backup Now, restore, cancel a job.
    OPERATE = "operate", _("register, protect, back up, restore and cancel jobs")
    # Everything that changes how data is kept or removes it: policies, stop protection,
    # deletions, vault settings, verify and prune, new vaults.
    CHANGE = "change", _("change policies and settings, stop protection and delete backup data")
    # The subscription itself: its members, deleting a vault, the vault's key, immutability.
    MANAGE = "manage", _("manage members, delete vaults and export keys")


ROLES_FOR_ACTION = {
    Action.VIEW: {Role.OWNER, Role.CONTRIBUTOR, Role.OPERATOR, Role.READER},
    Action.OPERATE: {Role.OWNER, Role.CONTRIBUTOR, Role.OPERATOR},
    Action.CHANGE: {Role.OWNER, Role.CONTRIBUTOR},
    Action.MANAGE: {Role.OWNER},
}


def allows(role, action):
    """Whether a member with `role` (None: not a member) may do `action`."""
    return role in ROLES_FOR_ACTION[action]


def permissions(role):
    """What the pages ask of a role: `can.operate`, `can.change`, … in a template."""
    return {action.value: allows(role, action) for action in Action}


def requires(action, on=None):
    """Marks a view with the action it needs (or {HTTP method: action} where methods differ) and the
    kind of object its `pk` names ("vault", "subscription" or None), so the role × route test finds
    every route's rule in the URL conf. Whatever marks a view also enforces the mark: `restrict` (404
    outside the user's subscriptions), then `allows` (403 for a role without the action)."""
    def mark(view):
        view.required_action = action
        view.required_on = on
        return view

    return mark


def rule_for(view, method):
    """The action a marked view needs for an HTTP method (None: unmarked, or a method it does not take)."""
    rule = getattr(view, "required_action", None)
    if isinstance(rule, dict):
        method = method.upper()
        return rule.get(method) or (rule.get("GET") if method in ("HEAD", "OPTIONS") else None)
    return rule


def get_allowed(queryset, user, pk, action, request=None):
    """The row `pk` of `queryset` if the user's subscriptions hold it (else 404) and their role allows
    `action` (else 403); `row.can` says what else the role allows, for the command bar. The request
    remembers the row (`scoped_object`): the audit log names the vault or subscription, refused or not."""
    row = get_object_or_404(queryset.restrict(user), pk=pk)
    if request is not None:
        request.scoped_object = row
    if not allows(row.role, action):
        raise PermissionDenied(_("Your role in this subscription does not allow this."))
    row.can = permissions(row.role)
    return row


def object_view(queryset, action, on):
    """A view of one row of `queryset` (the URL's `pk`, a "vault" or a "subscription"), called with
    the row once the user's role allows `action`. It checks before anything else, so a refusal is
    the same whatever the method or the data."""
    def decorate(view):
        @functools.wraps(view)
        def with_row(request, pk, **kwargs):
            return view(request, get_allowed(queryset, request.user, pk, action, request), **kwargs)

        return requires(action, on=on)(with_row)

    return decorate


class RestrictedQuerySet(models.QuerySet):
    """Rows of the subscriptions a user belongs to, with a role that allows `action`; anything else
    is not there (a 404), so a view never shows what the user's subscriptions do not hold. Each row
    carries the user's `role` in its subscription.

    The filter joins the subscription's memberships to the user's own: an aggregate over memberships
    added after `restrict` sees only that one row (count members in a subquery)."""

    def restrict(self, user, action=Action.VIEW):
        if not user.is_authenticated:
            return self.none()
        memberships = f"{self.model.subscription_path}__memberships" if self.model.subscription_path else "memberships"
        return self.filter(
            **{f"{memberships}__user": user, f"{memberships}__role__in": ROLES_FOR_ACTION[action]}
        ).annotate(role=F(f"{memberships}__role"))  # the same join: one membership per user and subscription
