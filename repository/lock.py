"""The repository's writer lock (locks/writer): one writer at a time, whatever host it runs on.

The lock object names its holder (host, pid, process start time) and a random token; the holder
refreshes it on a timer thread for as long as it writes, and removes or rewrites it only while the
token is its own. A lock whose process is gone or was replaced (on this host), or that was not
refreshed for LOCK_STALE_AFTER, is broken by the next writer.
"""

import json
import os
import socket
import threading
import time
import uuid

from repository.errors import RepositoryLocked
from repository.storage import ObjectMissing

LOCK_NAME = "locks/writer"
LOCK_STALE_AFTER = 30 * 60  # seconds without a refresh
LOCK_REFRESH = 60  # the holder's timer thread refreshes its lock this often


class WriterLock:
    """Held between acquire() and release(). `error` is set (and kept) when the lock was lost or could
    not be refreshed for long: the holder checks it (check()) before each step that needs the lock."""

    def __init__(self, storage):
        self.storage = storage
        self.token = uuid.uuid4().hex
        self.error = None
        self._released = threading.Event()
        self._refresher = threading.Thread(target=self._refresh, name="lock-refresher", daemon=True)

    def acquire(self, wait=0, on_wait=None):
        """Take the lock; while another process holds it, retry for up to `wait` seconds, calling
        on_wait() meanwhile, then raise RepositoryLocked."""
        deadline = time.monotonic() + wait
        while True:
            try:
                self._take()
                break
            except RepositoryLocked:
                if time.monotonic() >= deadline:
                    raise
                if on_wait:
                    on_wait()
                time.sleep(1)
        self._refresher.start()

    def release(self):
        """Stop refreshing, and remove the lock if it is still ours."""
        self._released.set()
        if self._refresher.is_alive():
            self._refresher.join()
        if self.is_ours():
            self.storage.delete(LOCK_NAME)

    def is_ours(self):
        holder, _raw = self._read()
        return bool(holder) and holder.get("token") == self.token

    def check(self):
        """Raise if the lock is no longer ours."""
        if self.error is not None:
            raise self.error
        if not self.is_ours():
            raise RepositoryLocked("The repository's writer lock was lost")

    def _record(self):
        return json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": process_start(os.getpid()),
                           "at": time.time(), "token": self.token}).encode()

    def _read(self):
        """(holder, the lock's bytes as read); (None, None) when there is no lock."""
        try:
            raw = self.storage.read(LOCK_NAME)
        except ObjectMissing:
            return None, None
        try:
            return json.loads(raw), raw
        except ValueError:
            return {}, raw  # unreadable: judged by its age like any other (see is_stale)

    def _take(self):
        if self.storage.create_exclusive(LOCK_NAME, self._record()):
            return
        holder, raw = self._read()
        if holder is not None and is_stale(holder):
            # Remove exactly the stale lock that was judged, never one another writer just made.
            if self.storage.delete_if_unchanged(LOCK_NAME, raw) and self.storage.create_exclusive(LOCK_NAME, self._record()):
                return
        holder = holder or {}
        raise RepositoryLocked(f"The repository is being written by process {holder.get('pid')} on {holder.get('host')}")

    def _refresh(self):
        """On the timer thread while the lock is held: keep it fresh, and notice if it was taken."""
        failures = 0
        while not self._released.wait(LOCK_REFRESH):
            try:
                if not self.is_ours():
                    self.error = RepositoryLocked("The repository's writer lock was taken by another process")
                    return
                self.storage.write(LOCK_NAME, self._record())
                failures = 0
            except Exception as error:  # noqa: BLE001 - a passing storage error; give up only if it stays
                failures += 1
                if failures * LOCK_REFRESH >= LOCK_STALE_AFTER / 3:
                    self.error = error
                    return


def process_start(pid):
    """The boot and start time of a process: a pid reused by another process gives other values."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as boot:
            boot_id = boot.read().strip()
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            start = stat.read().rsplit(")", 1)[1].split()[19]  # field 22: start time in clock ticks
        return f"{boot_id}:{start}"
    except (OSError, IndexError):
        return None


def is_stale(holder):
    """Stale when its holder was not refreshed for LOCK_STALE_AFTER (a live holder refreshes every
    LOCK_REFRESH on a timer thread), or, on this host, when its process is gone or its pid now
    belongs to another process."""
    try:
        if time.time() - float(holder.get("at", 0)) > LOCK_STALE_AFTER:
            return True
    except (TypeError, ValueError):
        return True
    if holder.get("host") != socket.gethostname():
        return False
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return True
    started = process_start(pid)
    return started is None or (holder.get("started") is not None and started != holder["started"])
