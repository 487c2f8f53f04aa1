"""The store's schema and connections on a real SQLite file: the migrations build exactly
the tables of `store.schema`, go down and up again, keep data on upgrade (on SQLite and on
a fresh PostgreSQL database); the file runs in WAL mode; a write that raises leaves
nothing behind."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, insert, inspect, select, text
from sqlalchemy.pool import NullPool

from deconflict.store import log as store_log
from deconflict.store import migrate, schema
from deconflict.store.database import Database, StoreUnavailable, database_url
from stores import STORES, fresh_postgres

TABLES = set(schema.metadata.tables)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.sqlite"


@pytest.fixture(params=STORES)
def engine(request: pytest.FixtureRequest, db_path: Path) -> Iterator[Engine]:
    """A bare engine on an empty store, SQLite file or PostgreSQL database: nothing
    migrated yet."""
    if request.param == "sqlite":
        url = f"sqlite:///{db_path}"
    else:
        url = database_url(fresh_postgres("migrations"))
    e = create_engine(url, poolclass=NullPool)
    try:
        yield e
    finally:
        e.dispose()


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    d = Database(str(db_path))
    try:
        yield d
    finally:
        d.close()


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def party_names(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(schema.parties.c.name)).scalars())


def add_party(engine: Engine, name: str) -> None:
    with engine.begin() as conn:
        conn.execute(insert(schema.parties).values(name=name, kind="force", created_s=1.0))


def revisions_oldest_first() -> list[str]:
    script = ScriptDirectory.from_config(migrate._config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


# --- migrations -----------------------------------------------------------------------------


def test_upgrade_from_empty_reaches_head_with_every_table(engine: Engine) -> None:
    assert migrate.current(engine) is None
    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.head()
    assert tables(engine) == TABLES


def test_migrated_database_matches_the_models(engine: Engine) -> None:
    migrate.upgrade(engine)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        diff = compare_metadata(ctx, schema.metadata)
    # Alembic's SQLite comparison cannot match an empty-string default ('' against "''"),
    # so tokens.label shows as changed when it is not; it is checked on its own below.
    spurious = [
        d
        for d in diff
        if isinstance(d, list)
        and len(d) == 1
        and d[0][0] == "modify_default"
        and d[0][2:4] == ("tokens", "label")
    ]
    assert [d for d in diff if d not in spurious] == []
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        label = [r for r in conn.exec_driver_sql("PRAGMA table_info(tokens)") if r[1] == "label"]
    assert label[0][4] == "''"  # dflt_value: DEFAULT ''


def test_downgrade_to_base_and_up_again(engine: Engine) -> None:
    migrate.upgrade(engine)
    migrate.downgrade(engine, "base")
    assert migrate.current(engine) is None
    assert tables(engine) == set()
    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.head()
    assert tables(engine) == TABLES


def test_each_upgrade_step_keeps_the_data(engine: Engine) -> None:
    revisions = revisions_oldest_first()
    assert revisions[-1] == migrate.head()
    migrate.upgrade(engine, revisions[0])
    add_party(engine, "before")
    for revision in revisions[1:]:
        migrate.upgrade(engine, revision)
        assert party_names(engine) == ["before"]
    migrate.upgrade(engine)  # at head already: a no-op
    assert party_names(engine) == ["before"]


def log_nodes_sql(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(
            conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'log_nodes'"
            ).scalar_one()
        )


def test_log_nodes_become_one_btree_on_sqlite_with_every_hash_kept(engine: Engine) -> None:
    # Migration 0009: WITHOUT ROWID on SQLite (one B-tree search per stored hash), nothing
    # on PostgreSQL; the hashes survive the copy both ways.
    migrate.upgrade(engine, "0008")
    rows = [(level, i, bytes([level, i % 256]) * 16) for level in range(3) for i in range(300)]
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"INSERT INTO log_nodes (level, idx, hash) VALUES ({marks(engine, 3)})", rows
        )

    def stored() -> list[tuple[int, int, bytes]]:
        n = schema.log_nodes.c  # the columns of 0009 (0010 adds `cluster`)
        with engine.connect() as conn:
            found = conn.execute(select(n.level, n.idx, n.hash).order_by("level", "idx")).all()
        return [(int(a), int(b), bytes(c)) for a, b, c in found]

    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        assert "WITHOUT ROWID" not in log_nodes_sql(engine)
    migrate.upgrade(engine, "0009")
    assert stored() == rows
    if sqlite:
        assert "WITHOUT ROWID" in log_nodes_sql(engine)
        with engine.connect() as conn:  # a hash is found by the key itself, no index first
            plan = conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT hash FROM log_nodes WHERE level = 1 AND idx = 7"
            ).all()
        assert [row[-1] for row in plan] == [
            "SEARCH log_nodes USING PRIMARY KEY (level=? AND idx=?)"
        ]
    migrate.downgrade(engine, "0008")
    assert stored() == rows
    if sqlite:
        assert "WITHOUT ROWID" not in log_nodes_sql(engine)
    migrate.upgrade(engine, "0009")  # 0010 drops levels 1 and 2 (the test below)
    assert stored() == rows


def marks(engine: Engine, n: int) -> str:
    return ", ".join(["?" if engine.dialect.name == "sqlite" else "%s"] * n)


def test_subtree_hashes_of_levels_1_and_2_are_dropped_and_computed_back_on_downgrade(
    engine: Engine,
) -> None:
    # Migration 0010: log_nodes keeps the leaves and levels 3 and up, keyed by cluster
    # first (two bands of levels here: 3 to 8 and 9 to 10); the unused index on
    # log_entries.at_s is dropped. The downgrade computes levels 1 and 2 from the leaves.
    from deconflict.record import MerkleTree

    migrate.upgrade(engine, "0009")
    tree = MerkleTree()
    for i in range(1100):
        tree.append(b"entry %d" % i)
    every = [
        (level, i, tree.nodes.get(level, i)) for level in range(11) for i in range(1100 >> level)
    ]
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"INSERT INTO log_nodes (level, idx, hash) VALUES ({marks(engine, 3)})", every
        )

    def stored() -> list[tuple[int, int, bytes]]:
        n = schema.log_nodes.c  # the columns of 0009 (0010 adds `cluster`)
        with engine.connect() as conn:
            found = conn.execute(select(n.level, n.idx, n.hash).order_by("level", "idx")).all()
        return [(int(a), int(b), bytes(c)) for a, b, c in found]

    def entry_indexes() -> set[str]:
        return {str(ix["name"]) for ix in inspect(engine).get_indexes("log_entries")}

    assert "ix_log_entries_at" in entry_indexes()
    migrate.upgrade(engine, "0010")
    assert stored() == [row for row in every if row[0] not in (1, 2)]
    assert "ix_log_entries_at" not in entry_indexes()
    # Each hash under the key store/log.py computes for it, and the table in that order:
    # the leaves, then levels 3 to 8 by the subtree of level 9 above them.
    with engine.connect() as conn:
        keyed = conn.exec_driver_sql(
            "SELECT cluster, level, idx FROM log_nodes ORDER BY cluster, level, idx"
        ).all()
    assert [(int(c), int(lv), int(i)) for c, lv, i in keyed] == sorted(
        (store_log.cluster(lv, i), lv, i) for lv, i, _ in every if lv not in (1, 2)
    )
    assert store_log.cluster(0, 36) == 0 and store_log.cluster(3, 4) == 1 << 40
    assert (
        store_log.cluster(8, 2) == (1 << 40) | 1 == store_log.cluster(3, 64)
        and store_log.cluster(9, 0) == 2 << 40
    )
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            plan = conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT hash FROM log_nodes "
                "WHERE cluster = 1 AND level = 3 AND idx = 7"
            ).all()
        assert [row[-1] for row in plan] == [
            "SEARCH log_nodes USING PRIMARY KEY (cluster=? AND level=? AND idx=?)"
        ]
    migrate.downgrade(engine, "0009")
    assert stored() == every
    assert "ix_log_entries_at" in entry_indexes()


def test_reopening_a_store_with_data_keeps_it(db_path: Path) -> None:
    first = Database(str(db_path))
    add_party(first.writer, "kept")
    first.close()
    again = Database(str(db_path))  # migrates on open
    try:
        assert party_names(again.reader) == ["kept"]
        assert migrate.current(again.writer) == migrate.head()
    finally:
        again.close()


def test_current_reports_head_after_open(db: Database) -> None:
    assert migrate.current(db.writer) == migrate.head() == revisions_oldest_first()[-1]


def test_a_store_from_a_newer_release_is_refused_in_one_sentence(db_path: Path) -> None:
    Database(str(db_path)).close()
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
    conn.close()
    with pytest.raises(StoreUnavailable) as caught:
        Database(str(db_path))
    message = caught.value.message
    assert "9999_future" in message and "newer" in message
    assert message.count(". ") == 0 and message.endswith(".")


def test_a_file_that_is_not_a_database_is_refused(db_path: Path) -> None:
    db_path.write_text("not a database, just words " * 100)
    with pytest.raises(StoreUnavailable, match="cannot be opened"):
        Database(str(db_path))


def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="does not exist"):
        Database(str(tmp_path / "nope" / "store.sqlite"))


# --- connections ----------------------------------------------------------------------------


def test_wal_mode_is_on(db: Database, db_path: Path) -> None:
    with db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    with db.write() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    raw = sqlite3.connect(db_path)  # WAL is a property of the file, seen by any client
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        raw.close()


def test_a_write_that_raises_leaves_nothing(db: Database) -> None:
    with pytest.raises(RuntimeError, match="boom"), db.write() as conn:
        conn.execute(insert(schema.parties).values(name="ghost", kind="force", created_s=1.0))
        conn.execute(
            insert(schema.events).values(recipient="ghost", type="t", at_s=1.0, payload="{}")
        )
        raise RuntimeError("boom")
    assert party_names(db.reader) == []
    with db.read() as conn:
        assert conn.execute(select(schema.events)).all() == []
    # The writer lock was released: the next write goes through and commits.
    with db.write() as conn:
        conn.execute(insert(schema.parties).values(name="real", kind="force", created_s=2.0))
    assert party_names(db.reader) == ["real"]


def test_readers_see_only_committed_writes_and_do_not_wait(db: Database) -> None:
    with db.write() as conn:
        conn.execute(insert(schema.parties).values(name="early", kind="force", created_s=1.0))
        with db.read() as snapshot:  # WAL: a reader does not wait for the open write
            seen = list(snapshot.execute(select(schema.parties.c.name)).scalars())
        assert seen == []
    assert party_names(db.reader) == ["early"]


def test_each_write_begins_immediate(db: Database, db_path: Path) -> None:
    # A second writer (another process: the CLI beside a running server) must not slip a
    # write in between: BEGIN IMMEDIATE takes the write lock at the start.
    with db.write() as conn:
        conn.execute(text("SELECT 1"))
        other = sqlite3.connect(db_path, timeout=0)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()
