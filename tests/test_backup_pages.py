"""Backup Now, the item page, the Restore wizard and disk downloads, through the pages."""

from pathlib import Path

import pytest
from django.utils import timezone

from jobs.models import Job
from repository import DamagedData
from tests.conftest import backup, client_for, disk_bytes, flip_a_bit, protect
from tests.factories import RegisteredItemFactory, VaultFactory
from tests.test_query_counts import queries_for
from vaults.choices import Operation, ProtectionState
from vaults.models import RecoveryPoint


@pytest.fixture
def backed_up(worker, vault, owner):
    item = protect(vault, owner, "app01", "contoso-app")
    backup(vault, owner, item)
    return item, RecoveryPoint.objects.get(vm=item.vm)


def test_backup_now_answers_with_the_tray(owner_client, vault, owner):
    item = protect(vault, owner, "web01")
    response = owner_client.post(f"/vaults/{vault.pk}/backup/", {"selected": [item.pk]})
    assert response.status_code == 200 and "Backup of" in response.content.decode()
    again = owner_client.post(f"/vaults/{vault.pk}/backup/", {"selected": [item.pk]})
    assert again.status_code == 409 and "Another operation is in progress" in again.content.decode()
    assert Job.objects.filter(operation=Operation.BACKUP).count() == 1


def test_backing_up_an_unprotected_item_is_refused(owner_client, vault):
    item = RegisteredItemFactory(vault=vault)
    response = owner_client.post(f"/vaults/{vault.pk}/backup/", {"selected": [item.pk]})
    assert response.status_code == 409 and "Only protected VMs can be backed up." in response.content.decode()
    assert not Job.objects.exists()


def test_others_cannot_back_up_restore_or_download(backed_up, vault, outsider, reader):
    item, point = backed_up
    outsider_client, reader_client = client_for(outsider), client_for(reader)
    urls = [f"/vaults/{vault.pk}/items/{item.pk}/", f"/vaults/{vault.pk}/points/{point.pk}/disks/0/",
            f"/vaults/{vault.pk}/restore/?selected={item.pk}"]
    for url in urls:
        assert outsider_client.get(url).status_code == 404, url
    assert outsider_client.post(f"/vaults/{vault.pk}/backup/", {"selected": [item.pk]}).status_code == 404
    assert reader_client.get(urls[0]).status_code == 200
    assert reader_client.get(urls[1]).status_code == 403
    assert reader_client.post(f"/vaults/{vault.pk}/backup/", {"selected": [item.pk]}).status_code == 403


def test_the_item_page_lists_recovery_points(owner_client, backed_up, vault):
    item, point = backed_up
    html = owner_client.get(f"/vaults/{vault.pk}/items/{item.pk}/").content.decode()
    assert f'data-point="{point.point_id}"' in html and "Application consistent" in html


def test_a_disk_download_streams_the_recovery_point(owner_client, backed_up, vault):
    item, point = backed_up
    response = owner_client.get(f"/vaults/{vault.pk}/points/{point.pk}/disks/0/")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Disposition"].startswith('attachment; filename="app01-os-disk-')
    assert b"".join(response.streaming_content) == disk_bytes(item.vm.disks[0])
    assert owner_client.get(f"/vaults/{vault.pk}/points/{point.pk}/disks/5/").status_code == 404


def test_the_restore_wizard_refuses_bad_input_and_changes_nothing(owner_client, backed_up, vault):
    item, point = backed_up
    jobs = Job.objects.count()
    no_item = owner_client.get(f"/vaults/{vault.pk}/restore/", HTTP_HX_REQUEST="true")
    assert no_item.status_code == 409 and "Select one protected VM to restore." in no_item.content.decode()
    first = owner_client.get(f"/vaults/{vault.pk}/restore/?selected={item.pk}")
    assert first.status_code == 200 and f'value="{point.pk}"' in first.content.decode()
    bad_name = owner_client.post(f"/vaults/{vault.pk}/restore/", {
        "selected": item.pk, "step": "2", "point": point.pk, "mode": "new_vm", "name": "<script>", "cloud_service": "svc"})
    assert bad_name.status_code == 400 and "letters, digits and hyphens" in bad_name.content.decode()
    other_point = owner_client.post(f"/vaults/{vault.pk}/restore/", {
        "selected": item.pk, "step": "2", "point": 999999, "mode": "replace"})
    assert other_point.status_code == 400 and "Choose a recovery point." in other_point.content.decode()
    bad_mode = owner_client.post(f"/vaults/{vault.pk}/restore/", {
        "selected": item.pk, "step": "2", "point": point.pk, "mode": "format-c"})
    assert bad_mode.status_code == 400 and "Choose how to restore" in bad_mode.content.decode()
    assert Job.objects.count() == jobs


def test_a_recovery_point_of_another_vault_cannot_be_restored_here(owner_client, backed_up, vault, subscription):
    item, point = backed_up
    other = VaultFactory(subscription=subscription)
    other_item = RegisteredItemFactory(vault=other)
    response = owner_client.post(f"/vaults/{other.pk}/restore/", {
        "selected": other_item.pk, "step": "2", "point": point.pk, "mode": "replace"})
    assert response.status_code == 400 and "Choose a recovery point." in response.content.decode()


def test_protected_items_with_points_stays_flat(owner_client, vault):
    from tests.factories import VirtualMachineFactory

    url = f"/vaults/{vault.pk}/protected/"

    def add_items(count):
        for _ in range(count):
            item = RegisteredItemFactory(vault=vault, protection_state=ProtectionState.PROTECTED, policy=vault.policies.get(),
                                         vm=VirtualMachineFactory(source__subscription=vault.subscription))
            for n in range(3):
                RecoveryPoint.objects.create(vault=vault, vm=item.vm, point_id=f"{item.pk}-{n}", consistency="crash")

    add_items(2)
    few = queries_for(owner_client, url)
    add_items(20)
    assert queries_for(owner_client, url) == few
    assert 'data-point-count>3<' in owner_client.get(url).content.decode()


def test_replacing_disks_asks_first_naming_the_vm_and_the_point(owner_client, backed_up, vault):
    item, point = backed_up
    jobs = Job.objects.count()
    asked = owner_client.post(f"/vaults/{vault.pk}/restore/", {
        "selected": item.pk, "step": "2", "point": point.pk, "mode": "replace"})
    page = asked.content.decode()
    assert asked.status_code == 200 and "Overwrite the disks of the existing VM?" in page
    assert str(item.vm) in page and timezone.localtime(point.created_at).strftime("%Y-%m-%d %H:%M:%S") in page
    assert Job.objects.count() == jobs, "asking starts nothing"
    unconfirmed = owner_client.post(f"/vaults/{vault.pk}/restore/", {
        "selected": item.pk, "step": "3", "point": point.pk, "mode": "replace"})
    assert unconfirmed.status_code == 400 and "Confirm that the disks of" in unconfirmed.content.decode()
    assert Job.objects.count() == jobs
    confirmed = owner_client.post(f"/vaults/{vault.pk}/restore/", {
        "selected": item.pk, "step": "3", "point": point.pk, "mode": "replace", "confirm": "yes"})
    assert confirmed.status_code == 200 and Job.objects.filter(operation=Operation.RESTORE).count() == 1


def test_restore_as_a_new_vm_refuses_a_name_its_cloud_service_has(owner_client, backed_up, vault):
    item, point = backed_up
    response = owner_client.post(f"/vaults/{vault.pk}/restore/", {
        "selected": item.pk, "step": "2", "point": point.pk, "mode": "new_vm",
        "name": item.vm.name, "cloud_service": item.vm.cloud_service})
    assert response.status_code == 400 and "already has a VM named" in response.content.decode()
    assert not Job.objects.filter(operation=Operation.RESTORE).exists()


def test_a_download_that_meets_damage_mid_stream_stops_short_and_writes_the_damage_down(owner_client, backed_up,
                                                                                       vault):
    item, point = backed_up
    repo = vault.repository()
    (pack,) = [name for name in repo.storage.list("packs/")]
    path = Path(repo.storage.location) / pack
    flip_a_bit(path, at=path.stat().st_size * 3 // 4)  # a chunk late in the disk: some bytes go out first
    response = owner_client.get(f"/vaults/{vault.pk}/points/{point.pk}/disks/0/")
    assert response.status_code == 200 and int(response["Content-Length"]) == point.disks[0]["size"]
    sent = 0
    with pytest.raises(DamagedData):
        for block in response.streaming_content:
            sent += len(block)
    assert 0 < sent < point.disks[0]["size"], "the browser sees a download shorter than announced: it failed"
    assert vault.repository().index.has_damage(), "the damage is written down for the next backup"


def test_backup_now_asks_how_long_to_retain_the_point(owner_client, vault, owner):
    item = protect(vault, owner, "web01")
    dialog = owner_client.get(f"/vaults/{vault.pk}/backup/?selected={item.pk}", HTTP_HX_REQUEST="true")
    default = (timezone.localdate() + timezone.timedelta(days=30)).isoformat()
    assert dialog.status_code == 200 and f'value="{default}"' in dialog.content.decode()
    for bad in ("2001-01-01", timezone.localdate().isoformat(), "next week", "9999-12-31"):
        refused = owner_client.post(f"/vaults/{vault.pk}/backup/", {"selected": [item.pk], "retain_until": bad})
        assert refused.status_code == 400 and "between tomorrow and" in refused.content.decode(), bad
    assert not Job.objects.filter(operation=Operation.BACKUP).exists()
    chosen = timezone.localdate() + timezone.timedelta(days=400)
    started = owner_client.post(f"/vaults/{vault.pk}/backup/", {"selected": [item.pk], "retain_until": chosen.isoformat()})
    assert started.status_code == 200 and "Backup of" in started.content.decode()
    job = Job.objects.get(operation=Operation.BACKUP)
    assert job.parameters["retain_until"].startswith(chosen.isoformat() + "T23:59:59")


def test_the_item_page_says_which_rule_keeps_each_point_and_until_when(owner_client, backed_up, vault):
    item, point = backed_up
    html = owner_client.get(f"/vaults/{vault.pk}/items/{item.pk}/").content.decode()
    until = point.retain_until.astimezone(timezone.get_current_timezone()).date().isoformat()
    assert f"Backup Now until {until}" in html
