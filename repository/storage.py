"""Where a repository's objects live, behind one small interface: a local folder or an S3 bucket.

Object names are relative paths such as "packs/3f/3f…", "index/3f…", "points/…", "config".
Writes are atomic: a reader sees the whole object or none of it.
"""

import contextlib
import errno
import os
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from urllib.parse import urlparse

from repository.errors import StorageUnavailable


class ObjectMissing(KeyError):
    pass


class Storage(ABC):
    location = ""  # where it is, in words: tells two copies of one repository apart

    @abstractmethod
    def read(self, name): ...

    @abstractmethod
    def read_range(self, name, offset, length): ...

    @abstractmethod
    def write(self, name, data):
        """Write the whole object atomically (replacing one of the same name)."""

    @abstractmethod
    def exists(self, name): ...

    def delete_if_unchanged(self, name, expected):
        """Delete the object if it still holds exactly the bytes `expected`. True if it is gone
        afterwards. Object stores offer no compare-and-delete: a short race remains."""
        try:
            current = self.read(name)
        except ObjectMissing:
            return True
        if current != expected:
            return False
        self.delete(name)
        return True

    @abstractmethod
    def create_exclusive(self, name, data):
        """Write the object only if none of that name exists; True if this call created it."""

    @abstractmethod
    def delete(self, name): ...

    @abstractmethod
    def list(self, prefix):
        """Names under a prefix such as "points/"."""

    @abstractmethod
    def total_size(self): ...

    def remove_leftovers(self, older_than):
        """Remove temporary files a killed writer left (older than `older_than` seconds); returns the
        bytes freed. Only the writer-lock holder calls it. Object stores write whole objects: nothing to do."""
        return 0

    def remove_empty_folders(self):
        """After the repository was destroyed: folders it leaves empty go. Object stores have none."""
        return None


class LocalStorage(Storage):
    """A folder. Each write goes to a temporary file that is fsynced and renamed into place."""

    def __init__(self, root):
        self.root = Path(root).resolve()  # once: names are checked and listed against it
        self._durable = set()  # folders whose entries this object has seen made durable

    @property
    def location(self):
        return str(self.root)

    def _path(self, name):
        path = (self.root / name).resolve()
        if self.root not in path.parents:
            raise ValueError(f"object name {name!r} leaves the repository")
        return path

    def read(self, name):
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            raise ObjectMissing(name) from None

    def read_range(self, name, offset, length):
        try:
            with open(self._path(name), "rb") as handle:
                return os.pread(handle.fileno(), length, offset)
        except FileNotFoundError:
            raise ObjectMissing(name) from None

    def exists(self, name):
        return self._path(name).is_file()

    def write(self, name, data):
        path = self._path(name)
        self._make_dirs(path.parent)
        temporary = _write_temporary(path.parent, data)
        try:
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)

    def create_exclusive(self, name, data):
        # Written whole to a temporary file, then hard-linked into place: link() fails if the name
        # exists, and a reader never sees the object half written.
        path = self._path(name)
        self._make_dirs(path.parent)
        temporary = _write_temporary(path.parent, data)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        except OSError as error:  # no hard links here (vfat, some network mounts): create exclusively
            if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return False
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                os.fsync(handle.fileno())
        finally:
            os.unlink(temporary)
        _fsync_dir(path.parent)
        return True

    def _make_dirs(self, folder):
        """Create missing folders, and fsync each parent whose entries changed, for crash safety. A
        folder found already there has its parent fsynced too, once per folder: another thread may
        have just made it and not yet made its entry durable."""
        if folder in self._durable:
            return
        missing, found = [], folder
        while not found.exists():
            missing.append(found)
            found = found.parent
        for created in reversed(missing):
            created.mkdir(exist_ok=True)
            _fsync_dir(created.parent)
        if not missing and folder != self.root:
            _fsync_dir(folder.parent)
        self._durable.add(folder)

    def delete(self, name):
        self._path(name).unlink(missing_ok=True)

    def delete_if_unchanged(self, name, expected):
        # Rename it aside first (atomic): only one of two breakers gets this very file, and a file
        # that turns out not to be the expected one is put back.
        path = self._path(name)
        try:  # compared first: a live lock that is not the one judged is never moved, even for a moment
            if path.read_bytes() != expected:
                return False
        except FileNotFoundError:
            return True
        aside = path.with_name(f".tmp-broken-{uuid.uuid4().hex}")
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return True
        if aside.read_bytes() != expected:
            try:
                os.link(aside, path)
            except FileExistsError:
                pass  # someone locked meanwhile: theirs stands
            aside.unlink()
            return False
        aside.unlink()
        return True

    def _files(self, prefix):
        """The objects' files under a prefix (temporary files being written are not objects yet)."""
        base = self._path(prefix) if prefix else self.root
        return (path for path in base.rglob("*") if path.is_file() and not path.name.startswith(".tmp-"))

    def list(self, prefix):
        return sorted(str(path.relative_to(self.root)) for path in self._files(prefix))

    def total_size(self):
        return sum(path.stat().st_size for path in self._files(""))

    def remove_empty_folders(self):
        """Remove the folders left empty (deepest first), the repository's own folder too."""
        for folder in sorted((path for path in self.root.rglob("*") if path.is_dir() and not path.is_symlink()),
                             key=lambda path: len(path.parts), reverse=True) + [self.root]:
            with contextlib.suppress(OSError):  # not empty: something else lives there, and stays
                folder.rmdir()

    def remove_leftovers(self, older_than):
        freed, now = 0, time.time()
        for path in self.root.rglob(".tmp-*"):
            with contextlib.suppress(OSError):
                info = path.lstat()
                if now - info.st_mtime > older_than:
                    path.unlink()
                    freed += info.st_size
        return freed


def _write_temporary(folder, data):
    """Write data to a new temporary file in `folder`, fsynced; returns its path."""
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return temporary


def _fsync_dir(folder):
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class S3Storage(Storage):
    """An S3-compatible bucket (AWS, MinIO, Ceph...). A PUT is atomic by the protocol."""

    def __init__(self, bucket, prefix="", client=None, **client_options):
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        self._client_errors = (ClientError, BotoCoreError)
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client or boto3.client("s3", **client_options)

    @property
    def location(self):
        return f"s3://{self.bucket}/{self.prefix} at {self.client.meta.endpoint_url}"

    def _key(self, name):
        return self.prefix + name

    @contextlib.contextmanager
    def _errors(self, key=""):
        """S3's errors in this module's words: a missing key, a refused condition, or unavailable."""
        try:
            yield
        except self._client_errors as error:
            code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise ObjectMissing(key) from None
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise FileExistsError(key) from None
            raise StorageUnavailable(f"S3 bucket {self.bucket}: {code or error}") from None

    def _call(self, method, **kwargs):
        with self._errors(kwargs.get("Key", "")):
            return getattr(self.client, method)(Bucket=self.bucket, **kwargs)

    def read(self, name):
        return self._call("get_object", Key=self._key(name))["Body"].read()

    def read_range(self, name, offset, length):
        response = self._call("get_object", Key=self._key(name), Range=f"bytes={offset}-{offset + length - 1}")
        return response["Body"].read()

    def write(self, name, data):
        self._call("put_object", Key=self._key(name), Body=data)

    def exists(self, name):
        try:
            self._call("head_object", Key=self._key(name))
        except ObjectMissing:
            return False
        return True

    def create_exclusive(self, name, data):
        try:
            self._call("put_object", Key=self._key(name), Body=data, IfNoneMatch="*")
        except FileExistsError:
            return False
        return True

    def delete(self, name):
        self._call("delete_object", Key=self._key(name))

    def _objects(self, prefix):
        with self._errors():
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
                yield from page.get("Contents", [])

    def list(self, prefix):
        return sorted(item["Key"][len(self.prefix):] for item in self._objects(prefix))

    def total_size(self):
        return sum(item["Size"] for item in self._objects(""))


def open_storage(location, **options):
    """A Storage for a folder path, file:// URL or s3://bucket/prefix URL."""
    parsed = urlparse(str(location))
    if parsed.scheme == "s3":
        return S3Storage(parsed.netloc, parsed.path, **options)
    if parsed.scheme in ("", "file"):
        return LocalStorage(parsed.path if parsed.scheme else location)
    raise StorageUnavailable(f"Unknown storage location {location!r}")
