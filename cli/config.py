"""Where the portal is and the token to reach it: VAULTLINE_URL and VAULTLINE_TOKEN, else the config
file (VAULTLINE_CONFIG, or ~/.config/vaultline/config.toml):

    url = "https://vaultline.example"
    token = "vl_…"

The token goes over HTTPS, or plain HTTP to this machine only, unless the portal is trusted to be
reached over plain HTTP (VAULTLINE_ALLOW_HTTP=1, or allow_http = true in the file)."""

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

TOKEN = re.compile(r"vl_[A-Za-z0-9_-]{20,100}")
LOCAL_HOSTS = {"localhost"}


class ConfigError(Exception):
    pass


@dataclass
class Settings:
    url: str
    token: str


def config_path():
    return Path(os.environ.get("VAULTLINE_CONFIG") or Path.home() / ".config" / "vaultline" / "config.toml")


def load(url=None, token=None):
    from_file = {}
    path = config_path()
    if path.is_file():
        try:
            from_file = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"{path} cannot be read: {error}") from None
    url = url or os.environ.get("VAULTLINE_URL") or from_file.get("url")
    token = token or os.environ.get("VAULTLINE_TOKEN") or from_file.get("token")
    if not url or not isinstance(url, str):
        raise ConfigError(f"Say where the portal is: VAULTLINE_URL, --url, or url in {path}.")
    if not token or not isinstance(token, str):
        raise ConfigError(f"Give an API token (the portal's API tokens page): VAULTLINE_TOKEN, --token, or token in {path}.")
    token = token.strip()
    if not TOKEN.fullmatch(token):  # never echoed: it may be half a secret
        raise ConfigError("The token is not one the portal makes (vl_ and letters, digits, - or _): copy it again.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"The portal's URL must start with http:// or https://, not {url!r}.")
    allow_http = os.environ.get("VAULTLINE_ALLOW_HTTP") == "1" or from_file.get("allow_http") is True
    if parts.scheme == "http" and not (_is_local(parts.hostname) or allow_http):
        raise ConfigError(f"{url} is plain HTTP: the token would cross the network readable. Use https://, or set "
                          "VAULTLINE_ALLOW_HTTP=1 for a portal you trust on this network.")
    return Settings(url=url.rstrip("/"), token=token)


def _is_local(host):
    if host in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
