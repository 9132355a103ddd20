"""A lab snapshot reads raw disks where they lie: the workload saves a block's old bytes before it
overwrites it, and the snapshot reads as of its instant however much the VM writes meanwhile."""

import os

import pytest

from repository.chunking import changed_chunks
from sources import LabSource
from sources.lab_build import MiB, create_lab_vm
from sources.lab_in_place import PREFIX
from sources.lab_workload import LabWorkload
from tests.conftest import snapshot_bytes


@pytest.fixture
def lab(tmp_path):
    return tmp_path / "lab"


def make_vm(lab, size=4 * MiB, disks=None):
    folder = create_lab_vm(lab, name="vm", cloud_service="svc", region="East US", disks=disks or [("raw", size)])
    return folder.name, folder


def snapshot_files(folder):
    return sorted(path.name for path in folder.iterdir() if path.name.startswith(PREFIX))


def test_every_block_rewritten_after_the_instant_still_reads_as_it_was(lab, tmp_path):
    vm_id, folder = make_vm(lab)
    before = (folder / "disk0.img").read_bytes()
    snapshot = LabSource(lab).snapshot(vm_id, tmp_path / "snap")
    workload = LabWorkload(folder, seed=3)
    for _ in range(20):
        workload.write(count=100)
    assert (folder / "disk0.img").read_bytes() != before, "the VM wrote all over its disk"
    (disk,) = snapshot.disks
    assert snapshot_bytes(disk) == before
    # An incremental reads only the chunks it is given: those too as they were.
    wanted = list(range(0, len(before) // (64 * 1024), 3))
    for index, data in disk.chunks(64 * 1024, wanted):
        assert data == before[index * 64 * 1024:(index + 1) * 64 * 1024]
    snapshot.release()
    assert snapshot_files(folder) == []


def test_reading_while_the_vm_writes_gives_the_instant(lab, tmp_path):
    vm_id, folder = make_vm(lab, size=16 * MiB)
    workload = LabWorkload(folder, seed=4)
    snapshot = LabSource(lab).snapshot(vm_id, tmp_path / "snap")
    before = (folder / "disk0.img").read_bytes()  # nothing wrote since the snapshot: its instant
    read, written = bytearray(), []
    for index, data in snapshot.disks[0].chunks(64 * 1024):
        read += data if data is not None else bytes(64 * 1024)
        if index % 8 == 0:  # between two reads, writes behind and ahead of the one just read
            written += workload.write(count=10, block=16384)
    assert len(written) == 10 * 32
    assert bytes(read) == before
    snapshot.release()


def test_a_snapshot_whose_reader_died_is_removed_by_the_next_and_a_live_one_is_kept(lab, tmp_path):
    vm_id, folder = make_vm(lab)
    source = LabSource(lab)
    live = source.snapshot(vm_id, tmp_path / "live")
    before = (folder / "disk0.img").read_bytes()
    # A worker killed mid-backup: its marker and store stay, locked by nobody.
    dead_id = "0123456789abcdef"
    for suffix in (".json", "-0", "-0.log"):
        (folder / f"{PREFIX}{dead_id}{suffix}").write_bytes(b"{}" if suffix == ".json" else b"")
    LabWorkload(folder, seed=6).write(count=50)
    second = source.snapshot(vm_id, tmp_path / "second")
    assert not any(dead_id in name for name in snapshot_files(folder)), "the dead one is gone"
    assert snapshot_bytes(live.disks[0]) == before, "the live one was kept, and still reads as of its instant"
    now = (folder / "disk0.img").read_bytes()
    LabWorkload(folder, seed=7).write(count=50)
    assert snapshot_bytes(second.disks[0]) == now
    live.release()
    second.release()
    assert snapshot_files(folder) == []


def test_a_replaced_disk_is_another_file_and_saves_nothing_into_the_snapshot(lab, tmp_path):
    vm_id, folder = make_vm(lab)
    source = LabSource(lab)
    snapshot = source.snapshot(vm_id, tmp_path / "snap")
    before = (folder / "disk0.img").read_bytes()
    replacement = tmp_path / "new.raw"
    replacement.write_bytes(os.urandom(len(before)))
    source.replace_disks(vm_id, {"disk0.img": str(replacement)})
    LabWorkload(folder, seed=8).write(count=50)
    assert snapshot_bytes(snapshot.disks[0]) == before, "the snapshot reads the file it opened"
    log = next(path for path in folder.iterdir() if path.name.endswith(".log") and path.name.startswith(PREFIX))
    assert log.stat().st_size == 0, "nothing of the new file was saved as the old one's"
    snapshot.release()


def test_a_qcow2_disk_beside_a_raw_one_is_still_copied(lab, tmp_path):
    vm_id, folder = make_vm(lab, disks=[("raw", 2 * MiB), ("qcow2", 2 * MiB)])
    snapshot = LabSource(lab).snapshot(vm_id, tmp_path / "snap")
    raw, qcow2 = snapshot.disks
    assert raw.reader is not None and qcow2.reader is None and os.path.exists(qcow2.path)
    changed = list(changed_chunks([(0, 4096)], 64 * 1024))
    assert [index for index, _data in qcow2.chunks(64 * 1024, changed)] == [0]
    snapshot.release()


def test_half_a_record_a_killed_saver_left_is_cut_and_reading_stays_exact(lab, tmp_path):
    vm_id, folder = make_vm(lab)
    before = (folder / "disk0.img").read_bytes()
    snapshot = LabSource(lab).snapshot(vm_id, tmp_path / "snap")
    (log,) = [path for path in folder.iterdir() if path.name.startswith(PREFIX) and path.name.endswith(".log")]
    with open(log, "ab") as torn:
        torn.write(b"\x00" * 7)  # a saver killed mid-append: its block was never written
    LabWorkload(folder, seed=9).write(count=200)
    assert log.stat().st_size % 16 == 0
    assert snapshot_bytes(snapshot.disks[0]) == before
    snapshot.release()


def test_a_vm_write_as_the_snapshot_ends_still_lands(lab, tmp_path):
    vm_id, folder = make_vm(lab)
    snapshot = LabSource(lab).snapshot(vm_id, tmp_path / "snap")
    for path in folder.iterdir():
        if path.name.startswith(PREFIX) and not path.name.endswith(".json"):
            path.unlink()  # the store and its log gone, the marker not yet: the snapshot is ending
    written = LabWorkload(folder, seed=10).write(count=5)
    assert len(written) == 5
    snapshot.release()
    assert snapshot_files(folder) == []
