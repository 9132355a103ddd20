"""Where the portal is and the token to reach it: VAULTLINE_URL and VAULTLINE_TOKEN, else the config
file (VAULTLINE_CONFIG, or ~/.config/vaultline/config.toml):

    url = "https://vaultline.example"
    token = "vl_…"
"""

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


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
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"The portal's URL must start with http:// or https://, not {url!r}.")
    return Settings(url=url.rstrip("/"), token=token.strip())
