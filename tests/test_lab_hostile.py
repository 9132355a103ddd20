"""A lab VM's folder is untrusted: backing chains, symlinks, planted files and odd names never make a
backup read, or a restore write, anything outside the VM's own disks."""

import fcntl
import json
import os
import shutil
import subprocess
import threading
import time

import pytest

from sources import LabSource
from sources.base import SnapshotError
from sources.files import UnsafeFile
from sources.lab_build import MiB, create_lab_vm
from sources.lab_folder import CHANGE_LOG, IO_LOCK, MANIFEST
from sources.lab_workload import LabWorkload
from tests.conftest import raw_bytes, rewrite_manifest
from tests.conftest import snapshot_bytes as disk_bytes

SECRET = b"root:$y$j9T$not-for-backups:19000:0:99999:7:::\n" * 100


@pytest.fixture
def lab(tmp_path):
    return tmp_path / "lab"


@pytest.fixture
def secret(tmp_path):
    """A file outside the lab that no backup may ever hold (a stand-in for /etc/shadow)."""
    path = tmp_path / "outside" / "shadow"
    path.parent.mkdir()
    path.write_bytes(SECRET)
    return path


def make_vm(lab, disks=(("raw", MiB),), **options):
    folder = create_lab_vm(lab, name=options.pop("name", "vm"), cloud_service="svc", region="East US",
                           disks=disks, **options)
    return folder.name, folder


def qemu_img(*arguments, cwd=None):
    subprocess.run(["qemu-img", *arguments], check=True, capture_output=True, cwd=cwd)


def use_qcow2(folder, file_name="top.qcow2"):
    rewrite_manifest(folder, disks=[{"name": "OS disk", "file": file_name, "format": "qcow2"}])


def only_problem(lab):
    inventory = LabSource(lab).inventory()
    assert inventory.vms == [], "the VM is refused"
    (problem,) = inventory.problems
    return problem


def snapshot_bytes(lab, vm_id, folder):
    snapshot = LabSource(lab).snapshot(vm_id, folder)
    return [disk_bytes(disk) for disk in snapshot.disks]


# --- qcow2 backing chains and external data files ------------------------------------------------


def test_a_backing_file_outside_the_folder_is_refused_at_discovery_and_at_snapshot(lab, secret, tmp_path):
    vm_id, folder = make_vm(lab)
    qemu_img("create", "-q", "-f", "qcow2", "-b", str(secret), "-F", "raw", str(folder / "top.qcow2"))
    use_qcow2(folder)
    assert "backing file outside the VM's folder" in only_problem(lab)
    with pytest.raises(SnapshotError) as error:
        LabSource(lab).snapshot(vm_id, tmp_path / "snap")
    assert error.value.code == SnapshotError.DISK_REFUSED and "backing file outside" in str(error.value)
    assert not (tmp_path / "snap").exists() or not any((tmp_path / "snap").iterdir()), "nothing was copied"


def test_a_backing_file_that_is_a_symlink_out_of_the_folder_is_refused(lab, secret):
    _vm_id, folder = make_vm(lab)
    (folder / "base.raw").symlink_to(secret)
    qemu_img("create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "top.qcow2", cwd=folder)
    use_qcow2(folder)
    assert "base.raw, which disk top.qcow2 needs, is not a plain file" in only_problem(lab)


def test_a_backing_chain_inside_the_folder_is_read_with_every_layer(lab, tmp_path):
    vm_id, folder = make_vm(lab)
    (folder / "base.raw").write_bytes(b"base layer " * (MiB // 11) + b"\0" * (MiB % 11))
    qemu_img("create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "top.qcow2", cwd=folder)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 7 65536 4096", str(folder / "top.qcow2")],
                   check=True, capture_output=True)
    use_qcow2(folder)
    (vm,) = LabSource(lab).inventory().vms
    assert vm.disks[0].virtual_size == MiB
    (copy,) = snapshot_bytes(lab, vm_id, tmp_path / "snap")
    assert copy == raw_bytes(folder / "top.qcow2", "qcow2")
    assert copy[:11] == b"base layer " and copy[65536:65536 + 4096] == b"\x07" * 4096


def test_a_backing_chain_that_loops_is_refused(lab):
    _vm_id, folder = make_vm(lab)
    qemu_img("create", "-q", "-f", "qcow2", "a.qcow2", "1M", cwd=folder)
    qemu_img("create", "-q", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", "top.qcow2", cwd=folder)
    qemu_img("rebase", "-u", "-b", "top.qcow2", "-F", "qcow2", "a.qcow2", cwd=folder)
    use_qcow2(folder)
    assert "loops" in only_problem(lab)


def test_an_external_data_file_outside_the_folder_is_refused(lab, tmp_path):
    _vm_id, folder = make_vm(lab)
    elsewhere = tmp_path / "outside-data.raw"
    qemu_img("create", "-q", "-f", "qcow2", "-o", f"data_file={elsewhere}", str(folder / "top.qcow2"), "1M")
    use_qcow2(folder)
    assert "keeps its data in a file outside the VM's folder" in only_problem(lab)


def test_an_external_data_file_inside_the_folder_is_read(lab, tmp_path):
    vm_id, folder = make_vm(lab)
    qemu_img("create", "-q", "-f", "qcow2", "-o", "data_file=data.raw", "top.qcow2", "1M", cwd=folder)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 9 0 4096", "top.qcow2"],
                   check=True, capture_output=True, cwd=folder)  # qemu finds a data file from its own folder
    use_qcow2(folder)
    (copy,) = snapshot_bytes(lab, vm_id, tmp_path / "snap")
    assert copy[:4096] == b"\x09" * 4096 and len(copy) == MiB


# --- The file a backup reads is the file that was checked ------------------------------------------


def wait_until_opened(path, timeout=30):
    """Wait until this process holds `path` open (the snapshot has checked and opened the disk)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                    return
            except OSError:
                continue
        time.sleep(0.01)
    raise AssertionError(f"{path} was never opened")


@pytest.mark.parametrize("disk_format", ["raw", "qcow2"])
def test_a_disk_swapped_for_a_symlink_while_the_snapshot_waits_is_not_followed(lab, secret, tmp_path, disk_format):
    vm_id, folder = make_vm(lab, disks=[(disk_format, MiB)])
    disk_file = "disk0.img" if disk_format == "raw" else "disk0.qcow2"
    original = raw_bytes(folder / disk_file, disk_format)
    result = {}

    def take_snapshot():
        try:
            result["disks"] = snapshot_bytes(lab, vm_id, tmp_path / "snap")
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            result["error"] = error

    with open(folder / IO_LOCK, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)  # a write in progress: the snapshot checks the disks, then waits
        snapshot = threading.Thread(target=take_snapshot)
        snapshot.start()
        wait_until_opened(folder / disk_file)
        (folder / disk_file).rename(folder / "moved-away")
        (folder / disk_file).symlink_to(secret)
        fcntl.flock(lock, fcntl.LOCK_UN)
    snapshot.join(30)
    assert "error" not in result, result.get("error")
    assert result["disks"] == [original], "the snapshot holds the disk that was checked, not the symlink's target"


# --- Nothing is written through a planted path ---------------------------------------------------------


def test_a_replace_restore_never_writes_through_a_planted_symlink(lab, tmp_path):
    vm_id, folder = make_vm(lab)
    victim = tmp_path / "victim"
    victim.write_bytes(b"a host file that must stay as it is")
    (folder / ".disk0.img.restoring").symlink_to(victim)  # the name today's code wrote through
    restored = tmp_path / "restored.raw"
    restored.write_bytes(os.urandom(MiB))
    LabSource(lab).replace_disks(vm_id, {"disk0.img": str(restored)})
    assert victim.read_bytes() == b"a host file that must stay as it is"
    assert (folder / "disk0.img").read_bytes() == restored.read_bytes()
    assert not (folder / "disk0.img").is_symlink()
    leftovers = {path.name for path in folder.iterdir()} - {MANIFEST, "disk0.img", IO_LOCK, ".disk0.img.restoring"}
    assert leftovers == set(), "no temporary file is left behind"


def test_a_planted_io_lock_or_change_log_symlink_is_refused(lab, tmp_path):
    vm_id, folder = make_vm(lab)
    victim = tmp_path / "victim"
    victim.write_bytes(b"unchanged")
    (folder / CHANGE_LOG).symlink_to(victim)
    with pytest.raises(SnapshotError) as error:
        LabSource(lab).snapshot(vm_id, tmp_path / "snap")
    assert error.value.code == SnapshotError.DISK_REFUSED
    with pytest.raises(UnsafeFile):
        LabWorkload(folder, seed=1).write(count=3)
    assert victim.read_bytes() == b"unchanged"

    (folder / CHANGE_LOG).unlink()
    (folder / IO_LOCK).unlink()  # the workload made it
    would_be_created = tmp_path / "created-by-the-lock"
    (folder / IO_LOCK).symlink_to(would_be_created)
    with pytest.raises(SnapshotError) as error:
        LabSource(lab).snapshot(vm_id, tmp_path / "snap2")
    assert error.value.code == SnapshotError.DISK_REFUSED
    assert not would_be_created.exists()


def test_a_change_log_hard_linked_from_elsewhere_is_not_appended_to(lab, tmp_path):
    vm_id, folder = make_vm(lab)
    elsewhere = tmp_path / "elsewhere.log"
    elsewhere.write_bytes(b"vaultline-change-log x\n")
    os.link(elsewhere, folder / CHANGE_LOG)
    with pytest.raises(UnsafeFile):
        LabWorkload(folder, seed=1).write(count=3)
    assert elsewhere.read_bytes() == b"vaultline-change-log x\n"


# --- Folders, ids and names ------------------------------------------------------------------------------


def test_a_vm_folder_that_is_a_symlink_is_refused(lab, tmp_path):
    make_vm(lab, name="real")
    _other_id, outside = make_vm(tmp_path / "elsewhere", name="outside")
    (lab / "sneaky").symlink_to(outside)
    inventory = LabSource(lab).inventory()
    assert [vm.name for vm in inventory.vms] == ["real"]
    assert inventory.problems == ["sneaky: the VM folder is a symbolic link"]
    with pytest.raises(SnapshotError):
        LabSource(lab).snapshot("sneaky", tmp_path / "snap")


def test_two_manifests_claiming_one_vm_id_keep_only_the_vm_of_that_folder(lab):
    vm_id, folder = make_vm(lab, name="original")
    shutil.copytree(folder, lab / "copy-of-original")
    rewrite_manifest(lab / "copy-of-original", name="impostor")
    inventory = LabSource(lab).inventory()
    assert [(vm.id, vm.name) for vm in inventory.vms] == [(vm_id, "original")]
    (problem,) = inventory.problems
    assert problem.startswith("copy-of-original: ") and "id is not its folder's name" in problem


@pytest.mark.parametrize("name", ["next\u0085line", "line\u2028separator", "evil\u202egnp.exe", "zero\u200bwidth"])
def test_names_with_control_or_bidi_characters_are_refused(lab, name):
    _vm_id, folder = make_vm(lab)
    rewrite_manifest(folder, name=name)
    assert "control characters" in only_problem(lab)


def test_a_folder_name_with_control_characters_is_shown_escaped(lab):
    _vm_id, folder = make_vm(lab)
    weird = lab / "bad\u202ename"
    folder.rename(weird)
    problem = only_problem(lab)
    assert "\u202e" not in problem and "\\u202e" in problem


def test_a_manifest_that_is_a_symlink_is_refused(lab, tmp_path):
    _vm_id, folder = make_vm(lab)
    elsewhere = tmp_path / "manifest.json"
    elsewhere.write_text((folder / MANIFEST).read_text())
    (folder / MANIFEST).unlink()
    (folder / MANIFEST).symlink_to(elsewhere)
    assert "unreadable manifest" in only_problem(lab)


def test_a_huge_or_deeply_nested_manifest_is_refused(lab):
    _vm_id, folder = make_vm(lab)
    (folder / MANIFEST).write_text("[" * 100000 + "]" * 100000)
    assert "manifest" in only_problem(lab)
    (folder / MANIFEST).write_text(json.dumps({"padding": "x" * (2 * MiB)}))
    assert "too large" in only_problem(lab)


def test_two_disks_of_one_file_are_refused(lab):
    _vm_id, folder = make_vm(lab)
    rewrite_manifest(folder, disks=[{"name": "a", "file": "disk0.img", "format": "raw"},
                                    {"name": "b", "file": "disk0.img", "format": "raw"}])
    assert "same file" in only_problem(lab)


@pytest.mark.parametrize("planted", [MANIFEST, "disk0.img"])
def test_a_fifo_planted_in_a_vm_folder_is_refused_at_once(lab, planted):
    _vm_id, folder = make_vm(lab)
    (folder / planted).unlink()
    os.mkfifo(folder / planted)  # opening it for reading would wait for a writer, forever
    assert only_problem(lab)


def test_a_disk_hard_linked_to_a_file_elsewhere_is_refused(lab, secret, tmp_path):
    _vm_id, folder = make_vm(lab)
    (folder / "disk0.img").unlink()
    os.link(secret, folder / "disk0.img")
    assert "hard link" in only_problem(lab)


def test_a_change_log_with_absurd_extents_means_a_whole_read(lab, tmp_path):
    vm_id, folder = make_vm(lab)
    source = LabSource(lab)
    first = source.snapshot(vm_id, tmp_path / "one")
    with open(folder / CHANGE_LOG, "a", encoding="ascii") as log:
        log.write("disk0.img 0 1000000000000000\n")  # would make a backup walk 10^10 chunks
    second = source.snapshot(vm_id, tmp_path / "two", since=first.change_position)
    assert second.disks[0].changed is None
