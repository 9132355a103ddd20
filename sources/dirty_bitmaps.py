"""Which blocks of a qcow2 disk changed, from qemu's persistent dirty bitmaps.

Each snapshot starts a new bitmap (its name goes into the snapshot's change position); qemu marks in
it every block written from then on. The next snapshot asks for the blocks that bitmap marks, then
starts the next one. Only the bitmap of the position given as `since` is kept besides the new one:
if a backup fails, the next still asks from the last good point.

Reading a bitmap needs an NBD export: `qemu-nbd --bitmap` serves the image read-only on a unix
socket, and `qemu-img map` with `x-dirty-bitmap` lists the extents (a dirty extent shows as
"data": false, as qemu's documentation of that option says). Anything unexpected means "unknown":
the backup then reads the whole disk, which is slower, never wrong.
"""

import json
import os
import re
import subprocess
import tempfile
import time
import uuid

from sources.images import qemu_img

PREFIX = "vaultline-"
_NAME = re.compile(r"^vaultline-[0-9a-f]{32}$")  # also keeps names out of qemu's option syntax
SERVER_START_TIMEOUT = 10  # seconds
QEMU_TIMEOUT = 120  # seconds for one qemu-img call


def new_bitmap_name():
    return f"{PREFIX}{uuid.uuid4().hex}"


def bitmaps(image):
    """{name: flags} of the persistent bitmaps of `image` (an open sources.images.Image)."""
    info = json.loads(_qemu_img(image, "info", "--output=json", "-U", image.spec()))
    return {bitmap["name"]: bitmap.get("flags", [])
            for bitmap in info.get("format-specific", {}).get("data", {}).get("bitmaps", [])}


def changes_and_track(image, since, name):  # image: an open sources.images.Image
    """[(offset, length)] written since bitmap `since` started (None if that cannot be known); then
    bitmap `name` starts, and our other bitmaps but `since` go. Call it with the VM's writes paused."""
    try:
        present = bitmaps(image)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None  # qemu cannot read the image's bitmaps: nothing known, nothing to track with
    valid = isinstance(since, str) and _NAME.fullmatch(since)
    # Missing, disabled or left inconsistent by a crash: only an "auto" bitmap is trusted.
    changed = _dirty_extents(image, since) if valid and present.get(since) == ["auto"] else None
    _track_from_now(image, name, [old for old in present if old.startswith(PREFIX) and old != since])
    return changed


def _dirty_extents(image, name):
    """[(offset, length)] that bitmap `name` marks, or None if qemu does not tell."""
    try:
        with tempfile.TemporaryDirectory(prefix="vl-nbd-") as folder:  # short: a socket path has < 108 bytes
            socket_path = os.path.join(folder, "s")
            server = subprocess.Popen(
                ["qemu-nbd", "--read-only", f"--bitmap={name}", "--export-name=disk",
                 f"--socket={socket_path}", image.spec()],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=tuple(image.fds),
            )
            try:
                deadline = time.monotonic() + SERVER_START_TIMEOUT
                while not os.path.exists(socket_path):
                    if server.poll() is not None or time.monotonic() > deadline:
                        return None
                    time.sleep(0.01)
                return [(extent["start"], extent["length"]) for extent in json.loads(qemu_img(
                    "map", "--output=json", "--image-opts",
                    f"driver=nbd,server.type=unix,server.path={socket_path},export=disk,"
                    f"x-dirty-bitmap=qemu:dirty-bitmap:{name}", timeout=QEMU_TIMEOUT,
                )) if not extent["data"]]
            finally:
                server.terminate()
                server.wait()
    except (OSError, ValueError, KeyError, TypeError, subprocess.SubprocessError):
        return None


def _track_from_now(image, name, obsolete):
    """Start bitmap `name` on the image and remove the `obsolete` ones. If qemu refuses (an image
    format too old for bitmaps, say), the next backup reads the whole disk: slower, never wrong."""
    try:
        _qemu_img(image, "bitmap", "--add", image.spec(), name)
        for old in obsolete:
            _qemu_img(image, "bitmap", "--remove", image.spec(), old)
    except (OSError, subprocess.SubprocessError):
        pass


def _qemu_img(image, *arguments):
    return qemu_img(*arguments, fds=image.fds, timeout=QEMU_TIMEOUT)
