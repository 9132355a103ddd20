"""Typed settings from the environment: a bad value fails loudly at start-up.

Every helper also accepts NAME_FILE, the path of a file that holds the value,
so secrets can come from mounted files instead of the process environment.
"""

import os

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
