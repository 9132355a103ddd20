
import pytest

from sources import SourceUnavailable, open_source
from sources.lab_build import MiB, create_lab_vm
from tests.conftest import rewrite_manifest


def test_inventory_lists_real_disks_with_their_virtual_size(lab_path):
    inventory = open_source("lab", lab_path).inventory()
    assert inventory.problems == []
    assert len(inventory.vms) == 7
    web = next(vm for vm in inventory.vms if vm.name == "web01")
    (disk,) = web.disks
    assert disk.format == "qcow2"
    assert disk.virtual_size == 2 * MiB
    with open(disk.path, "rb") as image:
        assert image.read(4) == b"QFI\xfb"


def test_raw_disks_hold_data_and_holes(lab_path):
    vm = next(vm for vm in open_source("lab", lab_path).inventory().vms if vm.name == "app01")
    data = open(vm.disks[0].path, "rb").read()
    assert len(data) == vm.disks[0].virtual_size
    assert data.count(0) < len(data), "a lab disk holds real data"


def test_list_vms_keeps_only_the_region(lab_path):
    inventory = open_source("lab", lab_path).list_vms("West Europe")
    assert [vm.name for vm in inventory.vms] == ["eu-web01"]


def test_same_names_are_told_apart_by_cloud_service(lab_path):
    apps = [vm for vm in open_source("lab", lab_path).inventory().vms if vm.name == "app01"]
    assert sorted(vm.cloud_service for vm in apps) == ["contoso-app", "fabrikam-app"]
    assert len({vm.id for vm in apps}) == 2


def test_missing_folder_is_unavailable(tmp_path):
    with pytest.raises(SourceUnavailable):
        open_source("lab", tmp_path / "nothing").inventory()


def test_unknown_kind_is_unavailable(tmp_path):
    with pytest.raises(SourceUnavailable):
        open_source("vmware", tmp_path)


@pytest.mark.parametrize(
    "changes, problem",
    [
        ({"name": "bad\nname"}, "control characters"),
        ({"name": "x" * 65}, "longer than 64"),
        ({"name": ""}, "empty"),
        ({"power_state": "exploded"}, "power state"),
        ({"disks": [{"file": "../../etc/passwd", "format": "raw"}]}, "plain file name"),
        ({"disks": [{"file": "gone.img", "format": "raw"}]}, "missing"),
        ({"disks": [{"file": "disk0.img", "format": "vmdk"}]}, "disk format"),
        ({"disks": []}, "at least one disk"),
    ],
)
def test_a_malformed_entry_is_skipped_with_a_reason(tmp_path, changes, problem):
    good = create_lab_vm(tmp_path, name="good", cloud_service="svc", region="East US", disks=[("raw", MiB)])
    bad = create_lab_vm(tmp_path, name="bad", cloud_service="svc", region="East US", disks=[("raw", MiB)], seed=1)
    rewrite_manifest(bad, **changes)
    inventory = open_source("lab", tmp_path).inventory()
    assert [vm.name for vm in inventory.vms] == ["good"]
    assert good.name not in " ".join(inventory.problems)
    assert len(inventory.problems) == 1 and problem in inventory.problems[0]


def test_a_symlinked_disk_is_refused(tmp_path):
    folder = create_lab_vm(tmp_path, name="sneaky", cloud_service="svc", region="East US", disks=[("raw", MiB)])
    (folder / "disk0.img").unlink()
    (folder / "disk0.img").symlink_to("/etc/hostname")
    inventory = open_source("lab", tmp_path).inventory()
    assert inventory.vms == [] and "not a plain file" in inventory.problems[0]


def test_a_qcow2_file_with_a_wrong_header_is_refused(tmp_path):
    folder = create_lab_vm(tmp_path, name="fake", cloud_service="svc", region="East US", disks=[("raw", MiB)])
    rewrite_manifest(folder, disks=[{"file": "disk0.img", "format": "qcow2"}])
    inventory = open_source("lab", tmp_path).inventory()
    assert inventory.vms == [] and "not a qcow2 image" in inventory.problems[0]


def test_get_vm_reads_one_folder_and_finds_what_the_inventory_finds(lab_path):
    source = open_source("lab", lab_path)
    for vm in source.inventory().vms:
        assert source.get_vm(vm.id) == vm
    assert source.get_vm("no-such-vm") is None


def test_get_vm_never_leaves_the_lab_nor_takes_what_the_inventory_skips(tmp_path):
    lab = tmp_path / "lab"
    create_lab_vm(lab, name="good", cloud_service="svc", region="East US", disks=[("raw", MiB)])
    outside = create_lab_vm(tmp_path / "elsewhere", name="outside", cloud_service="svc", region="East US",
                            disks=[("raw", MiB)], seed=1)
    (lab / "linked").symlink_to(outside)
    (lab / "a-file").write_text("{}")
    bad = create_lab_vm(lab, name="bad", cloud_service="svc", region="East US", disks=[("raw", MiB)], seed=2)
    rewrite_manifest(bad, power_state="exploding")
    source = open_source("lab", lab)
    hostile = [f"../elsewhere/{outside.name}", "..", ".", "", "linked", "a-file", bad.name, "a\0b", None]
    assert [source.get_vm(vm_id) for vm_id in hostile] == [None] * len(hostile)
    assert [vm.name for vm in source.inventory().vms] == ["good"]
