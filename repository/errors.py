class RepositoryError(Exception):
    """Something is wrong with a repository; the message says what, for a person to read."""


class WrongKey(RepositoryError):
    pass


class RepositoryLocked(RepositoryError):
    pass


class DamagedData(RepositoryError):
    """A chunk failed its check: its pack is damaged or missing. Never returns bad data."""


class PointNotFound(RepositoryError):
    pass


class StorageUnavailable(RepositoryError):
    pass
