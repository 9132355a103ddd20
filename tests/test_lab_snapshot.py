"""Lab snapshots: consistent copies of real disk images, taken while a workload keeps writing."""

import fcntl
import io
import threading
import time

import pytest

from repository.chunking import changed_chunks
from sources import LabSource
from sources.base import APPLICATION, CRASH, FILE_SYSTEM, SnapshotError
from sources.lab_build import MiB, create_lab_vm
from sources.lab_folder import CHANGE_LOG, IO_LOCK
from sources.lab_workload import LabWorkload
from tests.conftest import raw_bytes, rewrite_manifest, snapshot_bytes


@pytest.fixture
def lab(tmp_path):
    return tmp_path / "lab"


def make_vm(lab, **options):
    options.setdefault("disks", [("raw", 2 * MiB), ("qcow2", 2 * MiB)])
    folder = create_lab_vm(lab, name=options.pop("name", "vm"), cloud_service="svc", region="East US", **options)
    return folder.name, folder


def saved(disk, path):
    """The snapshot's disk written out to a raw file, as a restore would have it."""
    path.write_bytes(snapshot_bytes(disk))
    return str(path)


def test_snapshot_reads_raw_disks_in_place_and_copies_qcow2_disks(lab, tmp_path):
    vm_id, folder = make_vm(lab)
    snapshot = LabSource(lab).snapshot(vm_id, tmp_path / "snap")
    assert snapshot.consistency == APPLICATION and snapshot.warnings == []
    raw, qcow2 = snapshot.disks
    assert raw.reader is not None and not (tmp_path / "snap" / "0.raw").exists(), "no copy of the raw disk"
    assert snapshot_bytes(raw) == (folder / "disk0.img").read_bytes()
    assert snapshot_bytes(qcow2) == raw_bytes(folder / "disk1.qcow2", "qcow2")
    assert qcow2.size == 2 * MiB
    assert any(path.name.startswith(".snapshot-") for path in folder.iterdir())
    snapshot.release()
    assert not (tmp_path / "snap").exists()
    assert not any(path.name.startswith(".snapshot-") for path in folder.iterdir()), "the VM keeps nothing for us"


def test_the_snapshot_is_one_instant_while_the_workload_writes(lab, tmp_path):
    vm_id, folder = make_vm(lab, disks=[("raw", 4 * MiB)])
    workload = LabWorkload(folder, seed=1)
    workload.write(count=50)
    stop = threading.Event()
    rounds = []

    def keep_writing():
        while not stop.is_set():
            workload.write(count=5)
            rounds.append(time.monotonic())

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        snapshot = LabSource(lab).snapshot(vm_id, tmp_path / "snap")
        # The writer may have been between two rounds when the snapshot let go: wait (with a deadline)
        # until it has begun a round after it, so the check below has writes on both sides of the instant.
        taken, deadline = time.monotonic(), time.monotonic() + 30
        while sum(at > taken for at in rounds) < 2 and time.monotonic() < deadline:  # the 2nd began after it
            time.sleep(0.01)
    finally:
        stop.set()
        writer.join()
    # Every 4 KiB block not written after the snapshot must equal the disk as it is now.
    after = LabSource(lab).snapshot(vm_id, tmp_path / "later", since=snapshot.change_position).disks[0].changed
    written_after = {offset for offset, _length in after}
    assert written_after, "the workload kept writing during and after the snapshot"
    current = (folder / "disk0.img").read_bytes()
    captured = snapshot_bytes(snapshot.disks[0])  # read after the writes: what the workload saved stands in for them
    for offset in range(0, len(current), 4096):
        if offset not in written_after:
            assert captured[offset:offset + 4096] == current[offset:offset + 4096], offset


def test_the_change_log_tells_what_changed_since_the_last_snapshot(lab, tmp_path):
    vm_id, folder = make_vm(lab)
    source = LabSource(lab)
    first = source.snapshot(vm_id, tmp_path / "one")
    assert first.disks[0].changed is None, "nothing known before the first snapshot"
    writes = LabWorkload(folder, seed=3).write(count=7)
    second = source.snapshot(vm_id, tmp_path / "two", since=first.change_position)
    assert sorted(second.disks[0].changed) == sorted((offset, length) for f, offset, length in writes if f == "disk0.img")
    third = source.snapshot(vm_id, tmp_path / "three", since={"log": "another-log", "offset": 0})
    assert third.disks[0].changed is None, "a different log means nothing is known"
    assert third.disks[1].changed is None, "nor is a bitmap that was never started"


def test_a_torn_change_log_line_means_nothing_is_known(lab, tmp_path):
    vm_id, folder = make_vm(lab, disks=[("raw", 2 * MiB)])
    source = LabSource(lab)
    first = source.snapshot(vm_id, tmp_path / "one")
    LabWorkload(folder, seed=3).write(count=2)
    with open(folder / CHANGE_LOG, "a", encoding="ascii") as log:
        log.write("disk0.img 4096")  # a crash cut the line short
    second = source.snapshot(vm_id, tmp_path / "two", since=first.change_position)
    assert second.disks[0].changed is None, "the whole disk is read rather than trust a torn log"


def blocks(extents):
    return set(changed_chunks(extents, 64 * 1024))


def test_qemu_dirty_bitmaps_tell_what_changed_on_qcow2_disks(lab, tmp_path):
    vm_id, folder = make_vm(lab, disks=[("qcow2", 4 * MiB)])
    source = LabSource(lab)
    first = source.snapshot(vm_id, tmp_path / "one")
    assert first.disks[0].changed is None, "nothing known before the first snapshot"
    workload = LabWorkload(folder, seed=5)
    writes = workload.write(count=6)
    second = source.snapshot(vm_id, tmp_path / "two", since=first.change_position)
    assert blocks(second.disks[0].changed) == blocks((offset, length) for _f, offset, length in writes)
    # The snapshot holds exactly the disk as qemu sees it now.
    assert snapshot_bytes(second.disks[0]) == raw_bytes(folder / "disk0.qcow2", "qcow2")
    # A failed backup asks again from the same point: its bitmap was kept, and still holds every write.
    later = workload.write(count=2)
    retry = source.snapshot(vm_id, tmp_path / "retry", since=first.change_position)
    assert blocks(retry.disks[0].changed) == blocks((o, n) for _f, o, n in writes + later)
    after_retry = source.snapshot(vm_id, tmp_path / "three", since=retry.change_position)
    assert after_retry.disks[0].changed == []
    assert source.snapshot(vm_id, tmp_path / "bad", since={"bitmap": "vaultline-x,driver=file"}).disks[0].changed is None


def test_a_stopped_vm_cannot_be_snapshotted(lab, tmp_path):
    vm_id, _folder = make_vm(lab, power_state="stopped")
    with pytest.raises(SnapshotError) as error:
        LabSource(lab).snapshot(vm_id, tmp_path / "snap")
    assert error.value.code == SnapshotError.VM_NOT_RUNNING


def test_without_the_extension_the_point_is_crash_consistent(lab, tmp_path):
    vm_id, _folder = make_vm(lab, backup_extension=False)
    snapshot = LabSource(lab).snapshot(vm_id, tmp_path / "snap")
    assert snapshot.consistency == CRASH and "crash-consistent" in snapshot.warnings[0]


def test_an_extension_that_does_not_answer_is_an_error(lab, tmp_path):
    vm_id, folder = make_vm(lab)
    rewrite_manifest(folder, extension_state="unresponsive")
    with pytest.raises(SnapshotError) as error:
        LabSource(lab).snapshot(vm_id, tmp_path / "snap")
    assert error.value.code == SnapshotError.EXTENSION_NOT_ANSWERING


def test_a_failed_freeze_falls_back_to_file_system_consistency(lab, tmp_path):
    vm_id, folder = make_vm(lab)
    rewrite_manifest(folder, extension_state="freeze_fails")
    snapshot = LabSource(lab).snapshot(vm_id, tmp_path / "snap")
    assert snapshot.consistency == FILE_SYSTEM and "file-system consistent" in snapshot.warnings[0]


def test_writes_that_never_pause_time_the_snapshot_out(lab, tmp_path):
    vm_id, folder = make_vm(lab)
    with open(folder / IO_LOCK, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)  # a write that never ends
        with pytest.raises(SnapshotError) as error:
            LabSource(lab, freeze_timeout=0.3).snapshot(vm_id, tmp_path / "snap")
    assert error.value.code == SnapshotError.SNAPSHOT_TIMEOUT


def test_an_unknown_vm_is_not_found(lab, tmp_path):
    make_vm(lab)
    for vm_id in ("no-such-vm", "../../etc"):
        with pytest.raises(SnapshotError) as error:
            LabSource(lab).snapshot(vm_id, tmp_path / "snap")
        assert error.value.code == SnapshotError.VM_NOT_FOUND


def test_create_a_vm_and_replace_disks(lab, tmp_path):
    vm_id, folder = make_vm(lab)
    source = LabSource(lab)
    snapshot = source.snapshot(vm_id, tmp_path / "snap")
    like = source.get_vm(vm_id)
    copies = [saved(d, tmp_path / f"copy{number}.raw") for number, d in enumerate(snapshot.disks)]
    new_id = source.create_vm(name="restored", cloud_service="svc-restored", region="East US", like=like,
                              disks=[(d.name, d.format, copy) for d, copy in zip(snapshot.disks, copies, strict=True)])
    restored = source.get_vm(new_id)
    assert (restored.name, restored.cloud_service) == ("restored", "svc-restored")
    assert [d.format for d in restored.disks] == ["raw", "qcow2"]
    again = source.snapshot(new_id, tmp_path / "again")
    for original, copy in zip(snapshot.disks, again.disks, strict=True):
        assert snapshot_bytes(original) == snapshot_bytes(copy)

    LabWorkload(folder, seed=5).write(count=10)
    assert (folder / "disk0.img").read_bytes() != open(copies[0], "rb").read()
    source.replace_disks(vm_id, {snapshot.disks[0].key: copies[0]})
    assert (folder / "disk0.img").read_bytes() == open(copies[0], "rb").read() == snapshot_bytes(snapshot.disks[0])
    assert not (folder / CHANGE_LOG).exists(), "replacing disks resets what the change log knew"


def test_the_labworkload_command_writes_and_logs(lab_path):
    from django.core.management import call_command

    call_command("labworkload", lab=str(lab_path), vm=["app01"], seconds=0.3, rate=50, stdout=io.StringIO())
    logs = [path for path in lab_path.glob("*/" + CHANGE_LOG) if path.read_text().count("\n") > 1]
    assert len(logs) == 2, "both app01 VMs (raw disks) were written and their writes logged"
