"""A subscription's Members page: an Owner adds members by user name or e-mail, changes their roles
and removes them; the last Owner stays; nobody else changes anything."""

import pytest

from portal.access import Role
from tests.conftest import client_for
from tests.factories import UserFactory
from vaults.models import Membership


def members_url(subscription, tail=""):
    return f"/subscriptions/{subscription.pk}/members/{tail}"


def role_of(subscription, user):
    return Membership.objects.get(subscription=subscription, user=user).role


@pytest.mark.parametrize("typed", ["dana", "DANA", "dana@example.com", " Dana@Example.com "])
def test_an_owner_adds_a_member_by_name_or_email(owner_client, subscription, typed):
    dana = UserFactory(username="dana", email="dana@example.com")
    response = owner_client.post(members_url(subscription, "add/"), {"user": typed, "role": Role.OPERATOR},
                                 htmx=False, follow=True)
    assert response.redirect_chain[-1][0] == members_url(subscription)
    assert role_of(subscription, dana) == Role.OPERATOR
    assert "dana is now a member, as Backup Operator." in response.content.decode()


@pytest.mark.parametrize("typed, message", [
    ("nobody", "No user is called nobody"), ("", "This field is required"),
    ("shared@example.com", "Several users match"), ("owner", "already a member"),
])
def test_a_bad_add_says_why_and_changes_nothing(owner_client, subscription, typed, message):
    UserFactory(username="twin1", email="shared@example.com")
    UserFactory(username="twin2", email="shared@example.com")
    before = list(Membership.objects.values_list("user__username", "role"))
    response = owner_client.post(members_url(subscription, "add/"), {"user": typed, "role": Role.READER}, htmx=False)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert f'value="{typed.strip()}"' in response.content.decode() or not typed  # what was typed stays
    assert list(Membership.objects.values_list("user__username", "role")) == before


def test_an_owner_changes_a_role_and_removes_a_member(owner_client, subscription, member):
    membership = Membership.objects.get(user=member)
    owner_client.post(members_url(subscription, f"{membership.pk}/role/"), {"role": Role.READER}, htmx=False)
    assert role_of(subscription, member) == Role.READER
    owner_client.post(members_url(subscription, f"{membership.pk}/remove/"), htmx=False)
    assert not Membership.objects.filter(user=member).exists()


def test_the_last_owner_can_be_neither_demoted_nor_removed(owner_client, subscription, owner):
    mine = Membership.objects.get(user=owner)
    for tail, data in ((f"{mine.pk}/role/", {"role": Role.CONTRIBUTOR}), (f"{mine.pk}/remove/", {})):
        response = owner_client.post(members_url(subscription, tail), data, htmx=False, follow=True)
        assert "A subscription keeps at least one Owner" in response.content.decode()
        assert role_of(subscription, owner) == Role.OWNER


def test_with_a_second_owner_the_first_may_step_down(owner_client, subscription, owner, member):
    Membership.objects.filter(user=member).update(role=Role.OWNER)
    mine = Membership.objects.get(user=owner)
    owner_client.post(members_url(subscription, f"{mine.pk}/role/"), {"role": Role.READER}, htmx=False)
    assert role_of(subscription, owner) == Role.READER
    # Now the other is the last Owner: the (former) owner, a Reader, may not touch them.
    theirs = Membership.objects.get(user=member)
    assert owner_client.post(members_url(subscription, f"{theirs.pk}/remove/")).status_code == 403
    assert role_of(subscription, member) == Role.OWNER


def test_a_bad_role_changes_nothing(owner_client, subscription, member):
    membership = Membership.objects.get(user=member)
    response = owner_client.post(members_url(subscription, f"{membership.pk}/role/"), {"role": "god"},
                                 htmx=False, follow=True)
    assert "Choose one of the roles." in response.content.decode()
    assert role_of(subscription, member) == Role.CONTRIBUTOR


def test_a_member_of_another_subscription_cannot_be_touched(owner_client, subscription, outsider):
    theirs = Membership.objects.get(user=outsider)
    assert owner_client.post(members_url(subscription, f"{theirs.pk}/remove/")).status_code == 404
    assert Membership.objects.filter(user=outsider).exists()


def test_every_member_sees_the_members_but_only_an_owner_gets_the_forms(subscription, owner, reader, member):
    for user, forms in ((owner, True), (member, False), (reader, False)):
        page = client_for(user).get(members_url(subscription)).content.decode()
        assert "owner" in page and "reader" in page and "member" in page
        assert ("Add a member" in page) == forms and ("Change role" in page) == forms


def test_the_subscription_list_counts_every_member(subscription, owner, reader, member):
    page = client_for(reader).get("/subscriptions/").content.decode()
    assert "<td>Backup Reader</td>" in page
    assert "<td>3</td>" in page  # owner, reader and member, not only the one looking
