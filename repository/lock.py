"""The repository's locks: backups share it, prune and destroy hold it alone, whatever host they run on.

    locks/writer           the exclusive lock (prune, destroy): one holder at a time
    locks/shared-<token>   one per backup holding a shared lock

Each lock object names its holder (host, pid, process start time) and a random token; the holder
refreshes it on a timer thread for as long as it holds it, and removes or rewrites it only while the
token is its own. A lock whose process is gone or was replaced (on this host), or that was not
refreshed for LOCK_STALE_AFTER, is broken by the next one who meets it.

Shared and exclusive exclude each other by each writing its own lock first, then looking for the
other kind: of two that come at once, at least one sees the other. A shared locker that sees the
exclusive lock takes its own away and waits; an exclusive locker keeps its lock (so no new backup
starts) and waits for the shared ones to end. Backups may share the repository because each writes
only new objects (packs and points under random names, chunk-list pieces named by their content) and
builds only on packs stored before it began or by itself (index.TRUSTED); only prune deletes what
others may build on.
"""

import json
import os
import random
import socket
import threading
import time
import uuid

from repository.errors import RepositoryLocked
from repository.storage import ObjectMissing

LOCK_NAME = "locks/writer"
SHARED_PREFIX = "locks/shared-"
LOCK_STALE_AFTER = 30 * 60  # seconds without a refresh
LOCK_REFRESH = 60  # the holder's timer thread refreshes its lock this often


class _Lock:
    """Held between acquire() and release(). `error` is set (and kept) when the lock was lost or could
    not be refreshed for long: the holder checks it (check()) before each step that needs the lock."""

    name = None

    def __init__(self, storage):
        self.storage = storage
        self.token = uuid.uuid4().hex
        self.error = None
        self.refreshed = time.monotonic()  # when the lock object last said we hold it
        self._released = threading.Event()
        self._refresher = threading.Thread(target=self._refresh, name="lock-refresher", daemon=True)

    def acquire(self, wait=0, on_wait=None):
        """Take the lock; while others hold it in a way that excludes us, retry for up to `wait`
        seconds, calling on_wait() meanwhile, then raise RepositoryLocked."""
        raise NotImplementedError

    def release(self):
        """Stop refreshing, and remove the lock if it is still ours."""
        self._released.set()
        if self._refresher.is_alive():
            self._refresher.join()
        if self.is_ours():
            self.storage.delete(self.name)

    def is_ours(self):
        holder, _raw = read_lock(self.storage, self.name)
        return bool(holder) and holder.get("token") == self.token

    def check(self):
        """Raise if the lock is no longer ours, or went unrefreshed for so long that another may judge
        it stale (and, rewritten after that, it would only look like ours)."""
        if self.error is not None:
            raise self.error
        if time.monotonic() - self.refreshed > LOCK_STALE_AFTER / 2:
            raise RepositoryLocked("The repository's writer lock could not be refreshed for too long")
        if not self.is_ours():
            raise RepositoryLocked("The repository's writer lock was lost")

    def _record(self):
        return json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": process_start(os.getpid()),
                           "at": time.time(), "token": self.token}).encode()

    def _refresh(self):
        """On the timer thread while the lock is held: keep it fresh, and notice if it was taken."""
        failures = 0
        while not self._released.wait(LOCK_REFRESH):
            try:
                if not self.is_ours():
                    self.error = RepositoryLocked("The repository's writer lock was taken by another process")
                    return
                refreshing = time.monotonic()
                self.storage.write(self.name, self._record())
                self.refreshed = refreshing
                failures = 0
            except Exception as error:  # noqa: BLE001 - a passing storage error; give up only if it stays
                failures += 1
                if failures * LOCK_REFRESH >= LOCK_STALE_AFTER / 3:
                    self.error = error
                    return


class ExclusiveLock(_Lock):
    """The repository alone: no backup and no other prune meanwhile."""

    name = LOCK_NAME

    def acquire(self, wait=0, on_wait=None):
        deadline = time.monotonic() + wait
        while (holder := self._take()) is not None:
            _pause(deadline, on_wait, holder)
        self.refreshed = time.monotonic()
        self._refresher.start()  # from here on: waiting for the backups may outlast LOCK_STALE_AFTER
        try:
            while busy := live_shared_locks(self.storage):
                _pause(deadline, on_wait, busy[0])
        except BaseException:
            self.release()
            raise

    def _take(self):
        """Create the lock object, breaking a stale one. None once taken, else who holds it."""
        if self.storage.create_exclusive(self.name, self._record()):
            return None
        holder, raw = read_lock(self.storage, self.name)
        if holder is not None and is_stale(holder):
            # Remove exactly the stale lock that was judged, never one another writer just made.
            if self.storage.delete_if_unchanged(self.name, raw) and self.storage.create_exclusive(self.name, self._record()):
                return None
        return holder or {}


class SharedLock(_Lock):
    """The repository beside other backups: only the exclusive lock keeps it out."""

    def __init__(self, storage):
        super().__init__(storage)
        self.name = SHARED_PREFIX + self.token

    def acquire(self, wait=0, on_wait=None):
        deadline = time.monotonic() + wait
        while True:
            if not self.storage.create_exclusive(self.name, self._record()):
                raise RepositoryLocked("A lock with this writer's own random name exists")  # never, in practice
            try:
                holder, raw = read_lock(self.storage, LOCK_NAME)  # looked for only once ours is written
                if holder is None or (is_stale(holder) and self.storage.delete_if_unchanged(LOCK_NAME, raw)):
                    break
            except BaseException:
                self.storage.delete(self.name)  # a lock nobody refreshes would keep prune out for long
                raise
            self.storage.delete(self.name)  # the exclusive holder (or waiter) goes first
            _pause(deadline, on_wait, holder)
        self.refreshed = time.monotonic()
        self._refresher.start()


def _pause(deadline, on_wait, holder):
    """Between two tries: RepositoryLocked (naming the `holder` in the way) once past the deadline,
    else on_wait() and a second or so (jittered, so that two who keep meeting part)."""
    if time.monotonic() >= deadline:
        raise RepositoryLocked(f"The repository is being written by process {holder.get('pid')} on {holder.get('host')}")
    if on_wait:
        on_wait()
    time.sleep(random.uniform(0.5, 1.5))


def live_shared_locks(storage):
    """The holders of the shared locks that are still alive; stale ones are broken on the way."""
    live = []
    for name in storage.list("locks/"):
        if not name.startswith(SHARED_PREFIX):
            continue
        holder, raw = read_lock(storage, name)
        if holder is None:
            continue  # released while we looked
        if is_stale(holder):
            storage.delete_if_unchanged(name, raw)
        else:
            live.append(holder)
    return live


def read_lock(storage, name):
    """(holder, the lock's bytes as read); (None, None) when there is no lock."""
    try:
        raw = storage.read(name)
    except ObjectMissing:
        return None, None
    try:
        holder = json.loads(raw)
    except ValueError:
        holder = None
    # Unreadable: judged by its age like any other (see is_stale).
    return (holder if isinstance(holder, dict) else {}), raw


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
