"""Who may see and change what: a user's role in each subscription, and the queryset every view
gets its objects through. Any model a subscription holds names the path to it in `subscription_path`."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    CONTRIBUTOR = "contributor", _("Contributor")
    READER = "reader", _("Reader")


# Roles allowed to do each kind of action on what a subscription holds.
ROLES_FOR_ACTION = {
    "view": {Role.OWNER, Role.CONTRIBUTOR, Role.READER},
    "change": {Role.OWNER, Role.CONTRIBUTOR},
    "manage": {Role.OWNER},  # the vault's key, members
}


class RestrictedQuerySet(models.QuerySet):
    """Rows of the subscriptions a user belongs to, with a role that allows `action`; anything else
    is not there (a 404), so a view never shows what the user's subscriptions do not hold."""

    def restrict(self, user, action="view"):
        if not user.is_authenticated:
            return self.none()
        prefix = f"{self.model.subscription_path}__" if self.model.subscription_path else ""
        return self.filter(
            **{
                f"{prefix}memberships__user": user,
                f"{prefix}memberships__role__in": ROLES_FOR_ACTION[action],
            }
        )
