"""Where every stored chunk lives, kept on disk so memory stays flat however big the repository grows.

The repository's own record is one sealed index object per pack (see repo.py). This is a local
cache of them in a SQLite file: chunk id -> (pack, offset, length). `Repository` brings it up to
date from the storage's listing (new packs added, vanished packs dropped), so a stale cache can
never make a backup reuse a chunk that is gone. A chunk may sit in two packs (two writers that
raced to store it, or a crash between a pack and its reuse): each copy is a row of its own.

Large sets (the chunks every recovery point needs, for verify and prune) live in temporary tables
of the same file, on disk rather than in memory.
"""

import contextlib
import itertools
import os
import sqlite3
import threading

SCHEMA = """
CREATE TABLE IF NOT EXISTS pack (
    number INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: a writer trusts the numbers it saw (see stored)
    name TEXT NOT NULL UNIQUE,
    from_header INTEGER NOT NULL DEFAULT 0,  -- 1: its index object was damaged, the pack's own header served
    added_by TEXT  -- the writer token of the backup that wrote it, if one did
);
CREATE TABLE IF NOT EXISTS chunk (
    id BLOB NOT NULL,
    pack INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    length INTEGER NOT NULL,
    PRIMARY KEY (id, pack)
) WITHOUT ROWID;
"""
CACHE_VERSION = 2  # of the layout below; a cache file of another version is emptied and refilled
QUERY_BATCH = 500  # ids per IN (...) query: well under SQLite's limit on bound parameters


class ChunkIndex:
    def __init__(self, path):
        self.path = str(path)
        self._local = threading.local()  # a connection per thread: sqlite3 connections are not shared
        self._temporary = itertools.count()
        try:
            self._start()
        except sqlite3.DatabaseError as error:
            if getattr(error, "sqlite_errorname", "") not in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
                raise  # busy, full, …: not ours to delete
            # A damaged cache file: it is only a cache, so start again.
            self._local.db.close()
            del self._local.db
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path + suffix)
            self._start()

    def _start(self):
        db = self._db()
        if db.execute("PRAGMA user_version").fetchone()[0] not in (0, CACHE_VERSION):
            db.executescript("DROP TABLE IF EXISTS chunk; DROP TABLE IF EXISTS pack;")  # made by another version
        db.executescript(SCHEMA)
        db.execute(f"PRAGMA user_version = {CACHE_VERSION}")

    def _db(self):
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = sqlite3.connect(self.path, timeout=300, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # a cache: losing the last commits on power loss is fine
            db.execute("PRAGMA temp_store=FILE")
        return db

    # --- Packs -----------------------------------------------------------------------------

    def pack_names(self):
        return [name for (name,) in self._db().execute("SELECT name FROM pack")]

    def packs_from_header(self):
        return [name for (name,) in self._db().execute("SELECT name FROM pack WHERE from_header")]

    def newest_pack(self):
        """The highest pack number so far (0 if none): packs recorded later have higher numbers."""
        return self._db().execute("SELECT coalesce(max(number), 0) FROM pack").fetchone()[0]

    def add_pack(self, name, entries, from_header=False, added_by=None):
        """Record a pack and its (chunk id, offset, length) entries, in one transaction."""
        db = self._db()
        with _transaction(db):
            db.execute("INSERT INTO pack (name, from_header, added_by) VALUES (?, ?, ?) ON CONFLICT (name)"
                       " DO UPDATE SET added_by = coalesce(excluded.added_by, added_by)",
                       (name, int(from_header), added_by))
            (number,) = db.execute("SELECT number FROM pack WHERE name = ?", (name,)).fetchone()
            db.executemany("INSERT OR IGNORE INTO chunk (id, pack, offset, length) VALUES (?, ?, ?, ?)",
                           ((chunk_id, number, offset, length) for chunk_id, offset, length in entries))

    def remove_packs(self, names):
        if not names:
            return
        db = self._db()
        with _transaction(db):
            for name in names:
                row = db.execute("SELECT number FROM pack WHERE name = ?", (name,)).fetchone()
                if row:
                    db.execute("DELETE FROM chunk WHERE pack = ?", row)
                    db.execute("DELETE FROM pack WHERE number = ?", row)

    def pack_chunks(self, name):
        """(chunk id, length) of every chunk recorded in a pack."""
        return self._db().execute(
            "SELECT id, length FROM chunk JOIN pack ON pack.number = chunk.pack WHERE pack.name = ?", (name,)
        ).fetchall()

    # --- Chunks ----------------------------------------------------------------------------

    def __len__(self):
        return self._db().execute("SELECT count(*) FROM chunk").fetchone()[0]

    def __contains__(self, chunk_id):
        return self._db().execute("SELECT 1 FROM chunk WHERE id = ? LIMIT 1", (chunk_id,)).fetchone() is not None

    def __getitem__(self, chunk_id):
        """(pack, offset, length) of one stored copy of the chunk; KeyError if none is stored."""
        found = self.locate([chunk_id])
        if chunk_id not in found:
            raise KeyError(chunk_id)
        return found[chunk_id]

    def stored(self, chunk_ids, trusted_up_to, writer):
        """The subset of chunk_ids that a pack holds which the writer may build on: one recorded by
        the time it refreshed the index under the repository lock (`trusted_up_to`, a pack number),
        or one it wrote itself. A pack recorded later by another process can only be a late echo of
        one that was pruned since (nobody else writes while the lock is held), so it is not trusted."""
        unique = list(dict.fromkeys(chunk_ids))
        found = set()
        for at in range(0, len(unique), QUERY_BATCH):
            batch = unique[at:at + QUERY_BATCH]
            found.update(chunk_id for (chunk_id,) in self._db().execute(
                "SELECT DISTINCT chunk.id FROM chunk JOIN pack ON pack.number = chunk.pack"
                f" WHERE chunk.id IN ({','.join('?' * len(batch))}) AND (pack.number <= ? OR pack.added_by = ?)",
                [*batch, trusted_up_to, writer]))
        return found

    def locate(self, chunk_ids):
        """{chunk id: (pack, offset, length)} for the given ids that are stored (one copy each)."""
        found = {}
        db = self._db()
        unique = list(dict.fromkeys(chunk_ids))
        for at in range(0, len(unique), QUERY_BATCH):
            batch = unique[at:at + QUERY_BATCH]
            rows = db.execute(  # the newest copy first: an older one may be on its way out (repacked)
                "SELECT chunk.id, pack.name, chunk.offset, chunk.length FROM chunk JOIN pack ON pack.number = chunk.pack"
                f" WHERE chunk.id IN ({','.join('?' * len(batch))}) ORDER BY chunk.pack DESC", batch)
            for chunk_id, pack, offset, length in rows:
                found.setdefault(chunk_id, (pack, offset, length))
        return found

    # --- Sets too big for memory ---------------------------------------------------------------

    @contextlib.contextmanager
    def temporary_set(self, values):
        """A temporary table holding the distinct `values` (bytes or str), filled from an iterable
        of batches; yields its name. It lives on disk and goes when the block ends."""
        db = self._db()
        table = f"temp.set_{next(self._temporary)}"
        db.execute(f"CREATE TABLE {table} (value PRIMARY KEY) WITHOUT ROWID")
        try:
            with _transaction(db, "BEGIN"):  # deferred: filling a temporary table locks out no other process
                for batch in values:
                    db.executemany(f"INSERT OR IGNORE INTO {table} VALUES (?)", ((value,) for value in batch))
            yield table
        finally:
            db.execute(f"DROP TABLE IF EXISTS {table}")

    def query(self, sql, parameters=()):
        return self._db().execute(sql, parameters)


@contextlib.contextmanager
def _transaction(db, begin="BEGIN IMMEDIATE"):
    db.execute(begin)
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
