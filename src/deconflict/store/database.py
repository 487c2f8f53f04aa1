"""Opening the store: one engine for the single writer, one for readers, the schema
migrated to this release on open. SQLite runs in WAL mode so readers never wait for the
writer; every write transaction starts with BEGIN IMMEDIATE so it cannot deadlock.

Several processes (or machines) may share one store: writes are one sequence across all
of them. On SQLite, BEGIN IMMEDIATE takes the file's write lock; on PostgreSQL every write
transaction first locks the one row of `writer_lock` (SELECT ... FOR UPDATE, which the
PostgreSQL-compatible distributed engines accept, unlike advisory locks). Readers on
PostgreSQL run in REPEATABLE READ, so one read sees one snapshot, as on SQLite.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event

from deconflict.errors import DeconflictError
from deconflict.store import migrate


class StoreUnavailable(DeconflictError):
    """The database cannot be opened or reached."""

    code = "store_unavailable"
    http_status = 503
    exit_code = 2


def database_url(db: str) -> str:
    """A SQLAlchemy URL from what a user types: a file path, or a URL as it is."""
    if "://" in db:
        if db.startswith("postgresql://"):
            return "postgresql+psycopg://" + db[len("postgresql://") :]
        return db
    return "sqlite:///" + str(Path(db).expanduser().resolve())


def _sqlite_engine(url: str, *, writer: bool) -> Engine:
    # The writer keeps its one connection open between transactions (opening one and
    # running its pragmas costs ~0.7 ms a write); writes are serialised by Database.lock,
    # so the connection is never used by two threads at once.
    engine = (
        create_engine(url, pool_size=1, max_overflow=0, pool_timeout=30)
        if writer
        else create_engine(url)
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # On the driver's connection: through SQLAlchemy's statement handling it cost
        # several times what SQLite takes to begin.
        conn.connection.driver_connection.execute(begin)  # type: ignore[union-attr]

    return engine


def _postgres_engine(url: str, *, writer: bool, db: Database) -> Engine:
    if not writer:
        return create_engine(
            url, pool_pre_ping=True, pool_size=8, isolation_level="REPEATABLE READ"
        )
    # Writes of this process are serialised by Database.lock, so one connection is enough;
    # pre-ping replaces a connection the server dropped (a restart) before it is used.
    engine = create_engine(url, pool_pre_ping=True, pool_size=1, max_overflow=1)

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        if db.migrated:
            conn.exec_driver_sql("SELECT id FROM writer_lock WHERE id = 1 FOR UPDATE")

    return engine


class Database:
    """The store's connections. All writes of a process go through `write()`, one at a
    time; reads take their own connection and see the last committed state."""

    def __init__(self, db: str) -> None:
        self.migrated = False
        """True once the schema is at this release (the writer lock row exists)."""
        self.url = database_url(db)
        self.sqlite = self.url.startswith("sqlite")
        try:
            if self.sqlite:
                path = self.url[len("sqlite:///") :]
                if not Path(path).parent.is_dir():
                    raise StoreUnavailable(
                        f"The folder of the database {path} does not exist; create it first."
                    )
                self.writer = _sqlite_engine(self.url, writer=True)
                self.reader = _sqlite_engine(self.url, writer=False)
            else:
                self.writer = _postgres_engine(self.url, writer=True, db=self)
                self.reader = _postgres_engine(self.url, writer=False, db=self)
            found = migrate.current(self.writer)
            if found is not None and not migrate.known(found):
                raise StoreUnavailable(
                    f"The database {db} has schema revision {found!r}, made by a newer "
                    "release of deconflict than this one; upgrade deconflict to open it."
                )
            migrate.upgrade(self.writer)
            self.migrated = True
        except DeconflictError:
            self._dispose()
            raise
        except Exception as exc:  # driver errors vary by backend
            self._dispose()
            raise StoreUnavailable(
                f"The database {db} cannot be opened ({type(exc).__name__}); check the path "
                "or URL and that it is a deconflict database."
            ) from exc
        self.lock = threading.RLock()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        with self.lock, self.writer.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only snapshot."""
        with self.reader.begin() as conn:
            yield conn

    def _dispose(self) -> None:
        """Close every pooled connection (also after a failed open, engines made so far)."""
        writer: Engine | None = getattr(self, "writer", None)
        reader: Engine | None = getattr(self, "reader", None)
        if writer is not None:
            writer.dispose()
        if reader is not None and reader is not writer:
            reader.dispose()

    def close(self) -> None:
        self._dispose()
