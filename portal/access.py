"""Who may see and change what: a user's role in each subscription, the actions each role allows,
and the one queryset every view gets its objects through. Any model a subscription holds names the
path to it in `subscription_path`."""

from django.db import models
from django.db.models import OuterRef, Subquery
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


# Plain strings, as the database holds them: a role read from a row is looked up as it is.
ROLES_FOR_ACTION = {
    Action.VIEW.value: {Role.OWNER.value, Role.CONTRIBUTOR.value, Role.OPERATOR.value, Role.READER.value},
    Action.OPERATE.value: {Role.OWNER.value, Role.CONTRIBUTOR.value, Role.OPERATOR.value},
    Action.CHANGE.value: {Role.OWNER.value, Role.CONTRIBUTOR.value},
    Action.MANAGE.value: {Role.OWNER.value},
}


def allows(role, action):
    """Whether a member with `role` (None: not a member) may do `action`."""
    return role is not None and str(role) in ROLES_FOR_ACTION[str(action)]


def permissions(role):
    """What the pages ask of a role: `can.operate`, `can.change`, … in a template."""
    return {action.value: allows(role, action) for action in Action}


def requires(action, on=None):
    """Marks a view with the action it needs and the kind of object its `pk` names ("vault",
    "subscription" or None), so the role × route test finds every route's rule in the URL conf.
    Whatever marks a view also enforces the mark: `restrict` (404 outside the user's subscriptions),
    then `allows` (403 for a role without the action)."""
    def mark(view):
        view.required_action = action
        view.required_on = on
        return view

    return mark


class RestrictedQuerySet(models.QuerySet):
    """Rows of the subscriptions a user belongs to, with a role that allows `action`; anything else
    is not there (a 404), so a view never shows what the user's subscriptions do not hold."""

    def restrict(self, user, action=Action.VIEW):
        if not user.is_authenticated:
            return self.none()
        prefix = f"{self.model.subscription_path}__" if self.model.subscription_path else ""
        return self.filter(
            **{
                f"{prefix}memberships__user": user,
                f"{prefix}memberships__role__in": ROLES_FOR_ACTION[str(action)],
            }
        )

    def with_role(self, user):
        """Annotates each row with the user's role in its subscription (`role`), for `allows`."""
        subscription = OuterRef(self.model.subscription_path or "pk")
        membership = self.model._meta.apps.get_model("vaults", "Membership").objects.filter(
            subscription=subscription, user=user)
        return self.annotate(role=Subquery(membership.values("role")[:1]))
