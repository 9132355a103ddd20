"""Typed settings from the environment: a bad value fails loudly at start-up.

Every helper also accepts NAME_FILE, the path of a file that holds the value,
so secrets can come from mounted files instead of the process environment.
"""

import contextlib
import os
import secrets
import tempfile

from django.core.exceptions import ImproperlyConfigured


def _raw(name):
    if name in os.environ:
        return os.environ[name]
    path = os.environ.get(f"{name}_FILE")
    if path:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    return None


def env_str(name, default=""):
    value = _raw(name)
    return default if value is None else value


def env_bool(name, default=False):
    value = _raw(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(name, default):
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def env_list(name, default=()):
    value = _raw(name)
    if value is None:
        return list(default)
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_hex_key(text, where):
    """A 256-bit key written as 64 hex characters; fails loudly otherwise."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ImproperlyConfigured(f"{where} must be 64 hexadecimal characters (a 256-bit key)")
    return key


def create_once(path, text):
    """Write `text` to a new private file (0600) at `path`, whole or not at all: two processes
    starting at once end with one file, which both read."""
    folder = os.path.dirname(path)
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".new-")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)


def key_encryption_keys(path):
    """The key-encryption keys, the current one first: VAULTLINE_KEY_ENCRYPTION_KEY (or _FILE), with
    VAULTLINE_PREVIOUS_KEY_ENCRYPTION_KEYS while rotating; else the file `path`, generated once
    (one key per line, the current first)."""
    given = env_str("VAULTLINE_KEY_ENCRYPTION_KEY")
    if given:
        return [parse_hex_key(given, "VAULTLINE_KEY_ENCRYPTION_KEY")] + [
            parse_hex_key(old, "VAULTLINE_PREVIOUS_KEY_ENCRYPTION_KEYS")
            for old in env_list("VAULTLINE_PREVIOUS_KEY_ENCRYPTION_KEYS", [])]
    if not os.path.exists(path):
        create_once(path, secrets.token_hex(32) + "\n")
    with open(path, encoding="ascii") as handle:
        return [parse_hex_key(line, str(path)) for line in handle.read().split()]
