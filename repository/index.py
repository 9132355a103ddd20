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
    number INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: a writer trusts the numbers it saw (see TRUSTED)
    name TEXT NOT NULL UNIQUE,
    added_by TEXT  -- the writer token of the backup that wrote it, if one did
);
CREATE TABLE IF NOT EXISTS chunk (
    id BLOB NOT NULL,
    pack INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    length INTEGER NOT NULL,
    PRIMARY KEY (id, pack)
) WITHOUT ROWID;
-- What verify or a read found damaged (the repository's damaged/<mark> objects): a chunk's copy in
-- one pack, or a piece of a chunk list. Such a copy is never built on again.
CREATE TABLE IF NOT EXISTS damage_mark (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS damaged_chunk (
    id BLOB NOT NULL,
    pack TEXT NOT NULL,
    mark TEXT NOT NULL,
    PRIMARY KEY (id, pack, mark)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS damaged_list (id TEXT NOT NULL, mark TEXT NOT NULL, PRIMARY KEY (id, mark)) WITHOUT ROWID;
"""
CACHE_VERSION = 4  # of the layout above; a cache file of another version is emptied and refilled
QUERY_BATCH = 500  # ids per IN (...) query: well under SQLite's limit on bound parameters
# The packs a writer may build on: those recorded by the time it refreshed the index under the
# repository lock (a pack number), and its own (its token). A pack another process records later is a
# concurrent backup's (stored, but not trusted: its chunks are stored again, space lost and nothing
# wrong) or a late echo of one pruned since (prune holds the lock alone). An echo recorded just before
# that number was taken is dropped by the writer, which lists the storage again once it has it.
TRUSTED = "({pack}.number <= :trusted_up_to OR {pack}.added_by = :writer)"
# A chunk's copy that nothing found damaged.
GOOD = "NOT EXISTS (SELECT 1 FROM damaged_chunk WHERE damaged_chunk.id = {chunk}.id AND damaged_chunk.pack = {pack}.name)"


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
            self.close()
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path + suffix)
            self._start()

    def close(self):
        """Close this thread's connection (the next use opens a new one)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            del self._local.db

    def _start(self):
        db = self._db()
        if db.execute("PRAGMA user_version").fetchone()[0] not in (0, CACHE_VERSION):
            db.executescript("DROP TABLE IF EXISTS chunk; DROP TABLE IF EXISTS pack; DROP TABLE IF EXISTS damage_mark;"
                             " DROP TABLE IF EXISTS damaged_chunk; DROP TABLE IF EXISTS damaged_list;")  # another version
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

    def _rows(self, sql, parameters=()):
        return self._db().execute(sql, parameters).fetchall()

    def _for_ids(self, sql, chunk_ids, **parameters):
        """Rows of `sql` (whose "{ids}" stands for the ids' placeholders) over the distinct ids, a
        batch at a time."""
        unique = list(dict.fromkeys(chunk_ids))
        for at in range(0, len(unique), QUERY_BATCH):
            batch = unique[at:at + QUERY_BATCH]
            names = {f"id{number}": chunk_id for number, chunk_id in enumerate(batch)}
            yield from self._db().execute(sql.format(ids=",".join(f":{name}" for name in names)),
                                          {**names, **parameters})

    # --- Packs -----------------------------------------------------------------------------

    def pack_names(self, up_to=None):
        """The packs recorded, or those numbered `up_to` at most."""
        if up_to is None:
            return [name for (name,) in self._rows("SELECT name FROM pack")]
        return [name for (name,) in self._rows("SELECT name FROM pack WHERE number <= ?", (up_to,))]

    def newest_pack(self):
        """The highest pack number so far (0 if none): packs recorded later have higher numbers."""
        return self._rows("SELECT coalesce(max(number), 0) FROM pack")[0][0]

    def add_pack(self, name, entries, added_by=None):
        """Record a pack and its (chunk id, offset, length) entries, in one transaction."""
        db = self._db()
        with _transaction(db):
            db.execute("INSERT INTO pack (name, added_by) VALUES (?, ?) ON CONFLICT (name)"
                       " DO UPDATE SET added_by = coalesce(excluded.added_by, added_by)", (name, added_by))
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
        return self._rows("SELECT id, length FROM chunk JOIN pack ON pack.number = chunk.pack WHERE pack.name = ?",
                          (name,))

    def pack_size(self, name):
        """The bytes of a pack's chunks, as the index lists them."""
        return sum(length for _chunk_id, length in self.pack_chunks(name))

    # --- Chunks ----------------------------------------------------------------------------

    def stored(self, chunk_ids, trusted_up_to, writer):
        """The subset of chunk_ids held, in a copy found damaged by nobody, by a pack the writer may
        build on (see TRUSTED)."""
        return {chunk_id for (chunk_id,) in self._for_ids(
            "SELECT DISTINCT chunk.id FROM chunk JOIN pack ON pack.number = chunk.pack"
            f" WHERE chunk.id IN ({{ids}}) AND {TRUSTED.format(pack='pack')} AND {GOOD.format(chunk='chunk', pack='pack')}",
            chunk_ids, trusted_up_to=trusted_up_to, writer=writer)}

    def locate(self, chunk_ids):
        """{chunk id: (pack, offset, length)} for the given ids that are stored: the newest copy of
        each that nothing found damaged (an older one may be on its way out, repacked), else the newest."""
        found = {}
        for chunk_id, pack, offset, length in self._for_ids(
                "SELECT chunk.id, pack.name, chunk.offset, chunk.length FROM chunk JOIN pack ON pack.number = chunk.pack"
                f" WHERE chunk.id IN ({{ids}}) ORDER BY {GOOD.format(chunk='chunk', pack='pack')} DESC, chunk.pack DESC",
                chunk_ids):
            found.setdefault(chunk_id, (pack, offset, length))
        return found

    def unrepaired(self, chunk_ids):
        """The ids among chunk_ids that have no copy nothing found damaged (so no read can succeed)."""
        good = {chunk_id for (chunk_id,) in self._for_ids(
            "SELECT DISTINCT chunk.id FROM chunk JOIN pack ON pack.number = chunk.pack"
            f" WHERE chunk.id IN ({{ids}}) AND {GOOD.format(chunk='chunk', pack='pack')}", chunk_ids)}
        return set(chunk_ids) - good

    # --- Damage found ----------------------------------------------------------------------

    def mark_names(self):
        return {name for (name,) in self._rows("SELECT name FROM damage_mark")}

    def add_mark(self, name, chunks, lists):
        """Record a damage mark: (pack, chunk id) copies and chunk-list pieces found damaged."""
        db = self._db()
        with _transaction(db):
            db.execute("INSERT OR IGNORE INTO damage_mark (name) VALUES (?)", (name,))
            db.executemany("INSERT OR IGNORE INTO damaged_chunk (id, pack, mark) VALUES (?, ?, ?)",
                           ((chunk_id, pack, name) for pack, chunk_id in chunks))
            db.executemany("INSERT OR IGNORE INTO damaged_list (id, mark) VALUES (?, ?)", ((list_id, name) for list_id in lists))

    def remove_marks(self, names):
        db = self._db()
        with _transaction(db):
            for name in names:
                for table in ("damaged_chunk", "damaged_list"):
                    db.execute(f"DELETE FROM {table} WHERE mark = ?", (name,))
                db.execute("DELETE FROM damage_mark WHERE name = ?", (name,))

    def has_damage(self):
        return bool(self._rows("SELECT 1 FROM damaged_chunk UNION ALL SELECT 1 FROM damaged_list LIMIT 1"))

    def damaged_lists(self):
        return {list_id for (list_id,) in self._rows("SELECT DISTINCT id FROM damaged_list")}

    def damage(self):
        """((pack, chunk id) copies, list ids) of every mark, each once."""
        return (self._rows("SELECT DISTINCT pack, id FROM damaged_chunk"), self.damaged_lists())

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

    def needed_size(self, needed):
        """The bytes a read of every chunk of the set `needed` takes (one copy of each)."""
        return self._rows(f"SELECT coalesce(sum(length), 0) FROM (SELECT max(chunk.length) AS length FROM {needed}"
                          f" JOIN chunk ON chunk.id = {needed}.value GROUP BY {needed}.value)")[0][0]

    def missing(self, needed):
        """The ids in the temporary set `needed` that no pack holds."""
        return [chunk_id for (chunk_id,) in self._rows(
            f"SELECT value FROM {needed} WHERE value NOT IN (SELECT id FROM chunk)")]

    @contextlib.contextmanager
    def needed_by_pack(self, needed):
        """(pack, [(offset, length, None, chunk id)]) for each pack holding the copy a read of a chunk
        of the set `needed` takes (see locate), in offset order: the cursor stays open while the caller
        walks it."""
        rows = self._db().execute(
            "SELECT name, offset, length, id FROM (SELECT pack.name, chunk.offset, chunk.length, chunk.id,"
            f" row_number() OVER (PARTITION BY chunk.id ORDER BY {GOOD.format(chunk='chunk', pack='pack')} DESC,"
            f" chunk.pack DESC) AS choice FROM {needed} JOIN chunk ON chunk.id = {needed}.value"
            " JOIN pack ON pack.number = chunk.pack) WHERE choice = 1 ORDER BY name, offset")
        try:
            yield ((pack, [(offset, length, None, chunk_id) for _pack, offset, length, chunk_id in entries])
                   for pack, entries in itertools.groupby(rows, key=lambda row: row[0]))
        finally:
            rows.close()  # before its temporary table goes

    def dead_packs(self, needed, trusted_up_to):
        """Packs recorded by `trusted_up_to` that hold no chunk of the set `needed`: judged in one statement."""
        return [name for (name,) in self._rows(
            "SELECT name FROM pack WHERE number <= ? AND NOT EXISTS (SELECT 1 FROM chunk"
            f" JOIN {needed} ON {needed}.value = chunk.id WHERE chunk.pack = pack.number)", (trusted_up_to,))]

    def sparse_packs(self, needed, trusted_up_to, share):
        """Packs recorded by `trusted_up_to` whose chunks of the set `needed` are some, but less than
        `share`, of their bytes (a pack with none is dead, not sparse)."""
        live = f"sum(CASE WHEN {needed}.value IS NULL THEN 0 ELSE chunk.length END)"
        return [name for (name,) in self._rows(
            f"SELECT pack.name FROM chunk JOIN pack ON pack.number = chunk.pack LEFT JOIN {needed}"
            f" ON {needed}.value = chunk.id WHERE pack.number <= ? GROUP BY pack.number"
            f" HAVING {live} > 0 AND {live} < sum(chunk.length) * ?",
            (trusted_up_to, share))]

    def live_without_other_copy(self, pack, needed, excluding, trusted_up_to, writer):
        """(offset, length, None, chunk id) of the chunks of the set `needed` in `pack` that no trusted
        pack outside the set `excluding` holds in a copy nothing found damaged, in offset order."""
        return self._rows(
            f"SELECT chunk.offset, chunk.length, NULL, chunk.id FROM chunk JOIN pack ON pack.number = chunk.pack"
            f" JOIN {needed} ON {needed}.value = chunk.id WHERE pack.name = :pack AND NOT EXISTS ("
            " SELECT 1 FROM chunk AS other JOIN pack AS there ON there.number = other.pack"
            f" WHERE other.id = chunk.id AND there.name NOT IN (SELECT value FROM {excluding})"
            f" AND {TRUSTED.format(pack='there')} AND {GOOD.format(chunk='other', pack='there')})"
            " ORDER BY chunk.offset",
            {"pack": pack, "trusted_up_to": trusted_up_to, "writer": writer})


@contextlib.contextmanager
def _transaction(db, begin="BEGIN IMMEDIATE"):
    db.execute(begin)
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
