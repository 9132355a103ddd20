"""A subscription's members: adding one by user name or e-mail, changing a role, removing one. The
subscription always keeps an Owner: the last one can be neither demoted nor removed."""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext as _

from portal.access import Role
from vaults.errors import Refused
from vaults.models import Membership


def find_user(name_or_email):
    """The one active user with this user name, or else this e-mail address."""
    text = name_or_email.strip()
    users = get_user_model().objects.filter(is_active=True)
    found = []
    if text:
        found = list(users.filter(username__iexact=text)[:2]) or list(users.filter(email__iexact=text)[:2])
    if not found:
        raise Refused(_("No user is called %(name)s or has that e-mail address.") % {"name": text[:150]})
    if len(found) > 1:
        raise Refused(_("Several users match %(name)s: give the user name.") % {"name": text[:150]})
    return found[0]


@transaction.atomic
def add_member(subscription, name_or_email, role):
    user = find_user(name_or_email)
    membership, created = Membership.objects.get_or_create(subscription=subscription, user=user,
                                                           defaults={"role": role})
    if not created:
        raise Refused(_("%(user)s is already a member: change their role instead.") % {"user": user.get_username()})
    return membership


@transaction.atomic
def change_role(membership, role):
    _keep_an_owner(membership, losing=role != Role.OWNER)
    membership.role = role
    membership.save(update_fields=["role"])


@transaction.atomic
def remove_member(membership):
    _keep_an_owner(membership, losing=True)
    membership.delete()


def _keep_an_owner(membership, *, losing):
    """Refuses to take the last Owner away. The subscription's memberships are locked first, so two
    Owners demoting each other at once cannot both succeed."""
    owners = list(Membership.objects.select_for_update().filter(
        subscription=membership.subscription_id, role=Role.OWNER).values_list("pk", flat=True))
    if losing and owners == [membership.pk]:
        raise Refused(_("A subscription keeps at least one Owner: make another member an Owner first."))
