"""The vault repository format. No Django in here: a repository can be read with only its key."""

from repository.crypto import new_key
from repository.errors import (
    DamagedData,
    PointNotFound,
    RepositoryError,
    RepositoryLocked,
    StorageUnavailable,
    WrongKey,
)
from repository.repo import DEFAULT_CHUNK_SIZE, Repository
from repository.storage import LocalStorage, S3Storage, open_storage

__all__ = [
    "DEFAULT_CHUNK_SIZE", "DamagedData", "LocalStorage", "PointNotFound", "Repository", "RepositoryError",
    "RepositoryLocked", "S3Storage", "StorageUnavailable", "WrongKey", "new_key", "open_storage",
]
