"""Every page needs a login and shows only what the user's subscriptions hold; bad input changes nothing."""

import pytest

from jobs.models import Job
from tests.conftest import PortalClient, client_for
from tests.factories import JobFactory, RegisteredItemFactory, VaultFactory, VirtualMachineFactory
from vaults.choices import ProtectionState, RegistrationState
from vaults.models import RegisteredItem

PAGES = [
    "/vaults/{vault}/", "/vaults/{vault}/dashboard/", "/vaults/{vault}/registered/", "/vaults/{vault}/protected/",
    "/vaults/{vault}/policies/", "/vaults/{vault}/jobs/", "/vaults/{vault}/jobs/{job}/", "/vaults/{vault}/tray/?job={job}",
    "/vaults/{vault}/register/", "/vaults/{vault}/protect/", "/vaults/{vault}/policies/new/",
    "/vaults/{vault}/protect/retention/?policy=1",
]
COMMANDS = [
    "/vaults/{vault}/discover/", "/vaults/{vault}/register/", "/vaults/{vault}/unregister/",
    "/vaults/{vault}/protect/", "/vaults/{vault}/stop-protection/", "/vaults/{vault}/policies/new/",
    "/vaults/{vault}/policies/delete/",
]


@pytest.fixture
def job(vault):
    return JobFactory(vault=vault)


def urls(templates, vault, job):
    return [template.format(vault=vault.pk, job=job.pk) for template in templates]


def test_pages_need_a_login(vault, job):
    client = PortalClient()
    for url in urls(PAGES, vault, job) + ["/vaults/", "/vaults/new/"]:
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/login/"), url


def test_the_owner_sees_every_page(owner_client, vault, job):
    for url in urls(PAGES, vault, job):
        expected = 286 if "/tray/" in url else 200  # 286: the tray of an ended job stops polling
        assert owner_client.get(url).status_code == expected, url


def test_an_outsider_gets_404_everywhere(outsider, vault, job):
    client = client_for(outsider)
    for url in urls(PAGES, vault, job):
        assert client.get(url).status_code == 404, url
    for url in urls(COMMANDS, vault, job):
        assert client.post(url, {"selected": [1]}).status_code == 404, url
    assert Job.objects.count() == 1


def test_an_outsider_does_not_see_the_vault_in_the_list(outsider, vault):
    assert vault.name not in client_for(outsider).get("/vaults/").content.decode()


def test_a_reader_sees_but_cannot_act(reader, vault, job):
    client = client_for(reader)
    assert client.get(f"/vaults/{vault.pk}/registered/").status_code == 200
    for url in urls(COMMANDS, vault, job):
        assert client.post(url, {"selected": [1]}).status_code == 403, url
    assert Job.objects.count() == 1


def test_a_member_can_act(member, vault):
    response = client_for(member).post(f"/vaults/{vault.pk}/discover/")
    assert response.status_code == 200
    assert Job.objects.filter(vault=vault, created_by=member).count() == 1


def test_a_post_without_a_csrf_token_is_refused(owner_client, vault):
    response = owner_client.post(f"/vaults/{vault.pk}/discover/", csrf=False)
    assert response.status_code == 403
    assert not Job.objects.exists()


def test_protecting_an_unregistered_vm_is_refused(owner_client, vault):
    registering = RegisteredItemFactory(vault=vault, registration_state=RegistrationState.REGISTERING)
    policy = vault.policies.get()
    response = owner_client.post(
        f"/vaults/{vault.pk}/protect/",
        {"step": "2", "policy_mode": "existing", "policy": policy.pk, "selected": [registering.pk]},
    )
    assert response.status_code == 409
    assert "Only registered VMs that are not protected can be protected" in response.content.decode()
    registering.refresh_from_db()
    assert registering.protection_state == ProtectionState.NOT_PROTECTED and registering.policy is None
    assert not Job.objects.exists()


def test_protecting_an_item_of_another_vault_is_refused(owner_client, vault):
    foreign = RegisteredItemFactory(vault=VaultFactory(subscription=vault.subscription))
    response = owner_client.post(
        f"/vaults/{vault.pk}/protect/",
        {"step": "2", "policy_mode": "existing", "policy": vault.policies.get().pk, "selected": [foreign.pk]},
    )
    assert response.status_code == 409
    assert not Job.objects.exists()


def test_protecting_with_a_policy_of_another_vault_is_refused(owner_client, vault):
    item = RegisteredItemFactory(vault=vault)
    other_vault = VaultFactory(subscription=vault.subscription)
    from tests.factories import PolicyFactory

    foreign_policy = PolicyFactory(vault=other_vault)
    response = owner_client.post(
        f"/vaults/{vault.pk}/protect/",
        {"step": "2", "policy_mode": "existing", "policy": foreign_policy.pk, "selected": [item.pk]},
    )
    assert response.status_code == 400
    assert "Choose a policy" in response.content.decode()
    assert not Job.objects.exists()


def test_registering_a_vm_of_another_vault_is_refused(owner_client, vault):
    taken = RegisteredItemFactory(vault=VaultFactory(subscription=vault.subscription, region="East US"))
    vault.discovered_vms.add(taken.vm)  # even if this vault once discovered it
    response = owner_client.post(f"/vaults/{vault.pk}/register/", {"selected": [taken.vm.pk]})
    assert response.status_code == 409
    assert "not registered to a vault" in response.content.decode()
    assert RegisteredItem.objects.get(vm=taken.vm).vault == taken.vault
    assert not Job.objects.exists()


def test_registering_an_undiscovered_vm_is_refused(owner_client, vault):
    vm = VirtualMachineFactory(source__subscription=vault.subscription)
    response = owner_client.post(f"/vaults/{vault.pk}/register/", {"selected": [vm.pk]})
    assert response.status_code == 409
    assert not RegisteredItem.objects.exists()


@pytest.mark.parametrize("selected, status", [
    (["abc"], 400), (["1; DROP TABLE"], 400), ([], 409), (["99999999999999999999"], 400), (["-1"], 400), (["１"], 400)])
def test_a_malformed_selection_is_refused(owner_client, vault, selected, status):
    response = owner_client.post(f"/vaults/{vault.pk}/register/", {"selected": selected})
    assert response.status_code == status  # 400: not what the page sends; 409: nothing chosen
    assert not Job.objects.exists()


def test_a_plain_form_post_gets_a_redirect_and_a_message(owner_client, vault):
    response = owner_client.post(f"/vaults/{vault.pk}/register/", {"selected": ["abc"]}, htmx=False, follow=True)
    assert response.redirect_chain[-1][0] == f"/vaults/{vault.pk}/registered/"
    assert "The selection is not valid: choose the rows again." in response.content.decode()


@pytest.mark.parametrize(
    "url", ["/vaults/999999/", "/vaults/999999/jobs/1/", "/vaults/abc/", "/vaults/99999999999999999999/"]
)
def test_unknown_objects_are_404(owner_client, url):
    assert owner_client.get(url).status_code == 404


def test_a_huge_job_id_in_the_tray_is_refused(owner_client, vault):
    assert owner_client.get(f"/vaults/{vault.pk}/tray/?job=99999999999999999999").status_code == 400


def test_bad_job_filters_change_nothing(owner_client, vault, job):
    response = owner_client.get(f"/vaults/{vault.pk}/jobs/?start=not-a-date&status=bogus")
    assert response.status_code == 400  # a filter that is not valid says why; it never shows other jobs
    assert "Enter a valid date/time" in response.content.decode()
