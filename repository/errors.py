class RepositoryError(Exception):
    """Something is wrong with a repository; the message says what, for a person to read."""


class WrongKey(RepositoryError):
    pass


class RepositoryLocked(RepositoryError):
    pass


class DamagedData(RepositoryError):
    """A chunk failed its check: its pack is damaged or missing. Never returns bad data.
    `chunks` names the (pack, chunk id) copies and `lists` the chunk-list pieces found damaged."""

    def __init__(self, message, chunks=(), lists=()):
        super().__init__(message)
        self.chunks, self.lists = list(chunks), list(lists)


class PointNotFound(RepositoryError):
    pass


class StorageUnavailable(RepositoryError):
    pass
