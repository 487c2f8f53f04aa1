"""The repository: every query the service makes, over one connection (a write
transaction or a read snapshot). The rest of the code reaches the database only through
here; it holds no business rule, only what is stored and how it is found.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable

from deconflict.model.conflicts import Conflict
from deconflict.model.parties import Party, PartyKind
from deconflict.store import schema as t
from deconflict.store.log import LogHead, LogWriter


@dataclass(frozen=True, slots=True)
class DeclarationRow:
    """One stored version of one declaration."""

    party: str
    id: str
    version: int
    kind: str
    current: bool
    live: bool
    feature: str
    """The GeoJSON Feature, as JSON text."""
    shared: bool
    state: str
    late: bool
    submitted_s: float
    clearance: str
    """The Clearance, as JSON text (see store.codec)."""
    due_s: float | None
    etag: str
    signature: bytes | None
    key_id: str | None


@dataclass(frozen=True, slots=True)
class TokenRow:
    token_id: str
    party: str
    secret_sha256: str
    created_s: float
    revoked_s: float | None
    label: str


@dataclass(frozen=True, slots=True)
class EventRow:
    seq: int
    recipient: str
    type: str
    at_s: float
    payload: str


@dataclass(frozen=True, slots=True)
class MessageRow:
    message_id: str
    sender: str
    recipient: str
    text: str
    refs: str
    sent_s: float
    deadline_s: float
    acked_s: float | None
    escalated_s: float | None
    due_s: float | None
    signature: bytes | None


@dataclass(frozen=True, slots=True)
class WebhookRow:
    hook_id: str
    party: str
    url: str
    secret: str
    created_s: float
    deleted_s: float | None


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    delivery_id: int
    hook_id: str
    event_seq: int
    status: str
    attempts: int
    next_s: float | None
    last_status: int | None
    last_error: str | None
    updated_s: float


@dataclass(frozen=True, slots=True)
class NotificationRow:
    party: str
    id: str
    version: int
    notified: str
    reasons: str
    deadline_s: float
    open: bool


def _rows(cls: Any, result: Iterable[Any]) -> list[Any]:
    return [cls(**row._mapping) for row in result]


# Statements of the hot paths (authentication, submission, reads), built once with bound
# parameters: building a statement and its cache key costs more than SQLite takes to run it
# (bench/service.py; docs/benchmarks.md, "Service").
_p, _k, _d, _c = t.parties.c, t.keys.c, t.declarations.c, t.conflicts.c
_PARTY = select(t.parties).where(_p.name == bindparam("name"))
_PARTIES = select(t.parties).order_by(_p.name)
_OBSERVERS = select(_p.observers).where(_p.name == bindparam("name"))
_TOKEN = select(t.tokens).where(t.tokens.c.token_id == bindparam("token_id"))
_KEY = select(t.keys).where(_k.key_id == bindparam("key_id"))
_KEYS_OF = (
    select(_k.key_id, _k.public_key)
    .where(_k.party == bindparam("party"), _k.revoked_s.is_(None))
    .order_by(_k.created_s)
)
_INSERT_DECLARATION = insert(t.declarations)
_CURRENT = select(t.declarations).where(
    _d.party == bindparam("party"), _d.id == bindparam("id"), _d.current.is_(True)
)
_EXISTS = (
    select(_d.version).where(_d.party == bindparam("party"), _d.id == bindparam("id")).limit(1)
)
_VERSION = select(t.declarations).where(
    _d.party == bindparam("party"), _d.id == bindparam("id"), _d.version == bindparam("v")
)
_VERSIONS = (
    select(t.declarations)
    .where(_d.party == bindparam("party"), _d.id == bindparam("id"))
    .order_by(_d.version)
)
_INSERT_CONFLICTS = insert(t.conflicts)
_CONFLICTS_OF = (
    select(t.conflicts)
    .where(
        or_(
            and_(_c.a_party == bindparam("party"), _c.a_id == bindparam("id")),
            and_(_c.b_party == bindparam("party"), _c.b_id == bindparam("id")),
        )
    )
    .order_by(_c.start_s, _c.a_party, _c.a_id, _c.b_party, _c.b_id)
)
_INSERT_NOTIFICATIONS = insert(t.notifications)
_NOTIFICATION = select(t.notifications).where(
    t.notifications.c.party == bindparam("party"),
    t.notifications.c.id == bindparam("id"),
    t.notifications.c.version == bindparam("v"),
    t.notifications.c.notified == bindparam("notified"),
)
_INSERT_EVENT = insert(t.events)
_WEBHOOKS_OF = (
    select(t.webhooks)
    .where(t.webhooks.c.party == bindparam("party"), t.webhooks.c.deleted_s.is_(None))
    .order_by(t.webhooks.c.created_s)
)
_CHANGES_AFTER = (
    select(t.engine_changes.c.seq, t.engine_changes.c.party, t.engine_changes.c.id)
    .where(t.engine_changes.c.seq > bindparam("seq"))
    .order_by(t.engine_changes.c.seq)
)  # before every write (Service._catch_up)
_ABSENT = object()
_VERSION_NUMBERS = (
    select(_d.version).where(_d.party == bindparam("party"), _d.id == bindparam("id"))
).order_by(_d.version)


_DECLARATION_COLUMNS = [c.name for c in t.declarations.columns]
assert _DECLARATION_COLUMNS == list(DeclarationRow.__dataclass_fields__), "row != table"
_NOTIFICATION_COLUMNS = [c.name for c in t.notifications.columns]
assert _NOTIFICATION_COLUMNS == list(NotificationRow.__dataclass_fields__), "row != table"


def _wrapped(sql: str, params: Any, exc: sqlite3.Error) -> Exception:
    """The SQLAlchemy exception its path would raise for driver error `exc` (so callers
    and the API's handlers see one kind: IntegrityError, OperationalError...)."""
    return DBAPIError.instance(sql, params, exc, sqlite3.Error)


def _on_sqlite(stmt: Executable) -> tuple[str, tuple[str, ...]]:
    """The SQL SQLAlchemy sends to SQLite for `stmt`, and its parameters' names in order:
    the read path runs it on the driver's connection (the same query, without the ~0.1 ms
    SQLAlchemy spends around each execution, several times what SQLite takes)."""
    compiled = stmt.compile(dialect=sqlite.dialect())  # type: ignore[attr-defined]
    return str(compiled), tuple(compiled.positiontup or ())


def _insert(table: Any, columns: Sequence[str]) -> Executable:
    """An INSERT of `columns` (bound parameters named as the columns)."""
    return insert(table).values({name: bindparam(name) for name in columns})


_CONFLICT_COLUMNS = [c.name for c in t.conflicts.columns][1:]  # the id is the database's
_EVENT_COLUMNS = [c.name for c in t.events.columns][1:]
_WEBHOOK_COLUMNS = [c.name for c in t.webhooks.columns]
assert _WEBHOOK_COLUMNS == list(WebhookRow.__dataclass_fields__), "row != table"
_KEY_COLUMNS = [c.name for c in t.keys.columns]
_PARTY_COLUMNS = [c.name for c in t.parties.columns]
_LAST_CHANGE = select(func.max(t.engine_changes.c.seq))
_LIVE = select(t.declarations).where(_d.live.is_(True))

_RAW = {
    "token": _on_sqlite(_TOKEN),
    "current": _on_sqlite(_CURRENT),
    "version_numbers": _on_sqlite(_VERSION_NUMBERS),
    "conflicts_of": _on_sqlite(_CONFLICTS_OF),
    "notification": _on_sqlite(_NOTIFICATION),
    # The statements of a submission (one write transaction), on the writer's connection.
    "party": _on_sqlite(_PARTY),
    "parties": _on_sqlite(_PARTIES),
    "observers": _on_sqlite(_OBSERVERS),
    "key": _on_sqlite(_KEY),
    "keys_of": _on_sqlite(_KEYS_OF),
    "exists": _on_sqlite(
        select(_d.version).where(_d.party == bindparam("party"), _d.id == bindparam("id"))
    ),
    "webhooks_of": _on_sqlite(_WEBHOOKS_OF),
    "changes_after": _on_sqlite(_CHANGES_AFTER),
    "last_change": _on_sqlite(_LAST_CHANGE),
    "live": _on_sqlite(_LIVE),
    "insert_declaration": _on_sqlite(_insert(t.declarations, _DECLARATION_COLUMNS)),
    "insert_conflict": _on_sqlite(_insert(t.conflicts, _CONFLICT_COLUMNS)),
    "insert_notification": _on_sqlite(_insert(t.notifications, _NOTIFICATION_COLUMNS)),
    "insert_event": _on_sqlite(_insert(t.events, _EVENT_COLUMNS)),
    "insert_change": _on_sqlite(_insert(t.engine_changes, ["party", "id"])),
}
_DECLARATION_BOOLS = frozenset({"current", "live", "shared", "late"})
_TOKEN_COLUMNS = [c.name for c in t.tokens.columns]
assert _TOKEN_COLUMNS == list(TokenRow.__dataclass_fields__), "row != table"


def _declaration(row: Sequence[Any]) -> DeclarationRow:
    """A row of the driver (SQLite booleans are 0 and 1) as SQLAlchemy would give it."""
    values: list[Any] = [
        bool(v) if name in _DECLARATION_BOOLS else v
        for name, v in zip(_DECLARATION_COLUMNS, row, strict=True)
    ]
    return DeclarationRow(*values)


_IDEMPOTENT = select(
    t.idempotency.c.request_sha256, t.idempotency.c.status, t.idempotency.c.body
).where(t.idempotency.c.party == bindparam("party"), t.idempotency.c.key == bindparam("key"))


class Repository:
    """Queries over one connection. Writes only make sense inside `Database.write()`."""

    def __init__(self, conn: Connection, head: LogHead | None = None) -> None:
        self.conn = conn
        self._head = head
        self._log: LogWriter | None = None
        self.touched: set[tuple[str, str]] = set()
        """(party, id) of declarations whose stored versions this transaction changed;
        written to `engine_changes` by `flush_changes` (other processes follow them)."""
        self._memo: dict[tuple[str, str], Any] = {}
        self._driver: Any = _ABSENT
        """Parties, observers and webhooks as read in this transaction: one submission asks
        for them several times. Emptied by every change to them made through here (the only
        place that changes them)."""

    def _sqlite(self) -> Any:
        """SQLite's driver connection of this transaction, or None on other databases
        (which take the SQLAlchemy path)."""
        if self._driver is _ABSENT:
            sqlite_ = self.conn.dialect.name == "sqlite"
            self._driver = self.conn.connection.driver_connection if sqlite_ else None
        return self._driver

    def _raw(self, stmt: str, /, **params: Any) -> list[Any] | None:
        """The rows of hot read `stmt` run on SQLite's driver connection (in this same
        transaction); None on other databases, which take the SQLAlchemy path."""
        driver = self._sqlite()
        if driver is None:
            return None
        sql, names = _RAW[stmt]
        values = [params[n] for n in names]
        try:
            rows: list[Any] = driver.execute(sql, values).fetchall()
        except sqlite3.Error as exc:
            raise _wrapped(sql, values, exc) from exc
        return rows

    def _raw_write(self, name: str, rows: Sequence[Sequence[Any]]) -> int | None:
        """Run statement `name` of `_RAW` once per row of parameters (in the statement's
        order) on SQLite's driver connection; the last row id, or None on other databases
        (the caller then takes the SQLAlchemy path)."""
        driver = self._sqlite()
        if driver is None:
            return None
        sql = _RAW[name][0]
        try:
            if len(rows) == 1:
                last: int = driver.execute(sql, rows[0]).lastrowid
                return last
            driver.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise _wrapped(sql, rows, exc) from exc
        return 0

    def _memoized(self, kind: str, key: str, read: Any) -> Any:
        found = self._memo.get((kind, key), _ABSENT)
        if found is _ABSENT:
            found = self._memo[(kind, key)] = read()
        return found

    @property
    def log(self) -> LogWriter:
        """The record, appended in this transaction (opened on first use)."""
        if self._log is None:
            self._log = LogWriter(self.conn, self._head)
        return self._log

    def flush_log(self) -> LogHead | None:
        """Write what was appended to the record; the new head, or None if untouched."""
        return None if self._log is None else self._log.flush()

    def flush_changes(self) -> int | None:
        """Note the declarations this transaction changed, for the other processes on the
        store; the last change's sequence number, or None if none changed."""
        if not self.touched:
            return None
        keys = sorted(self.touched)
        self.touched = set()
        if self._raw_write("insert_change", keys) is not None:
            raw = self._raw("last_change")
            assert raw is not None
            return int(raw[0][0])
        rows = [{"party": p, "id": i} for p, i in keys]
        self.conn.execute(insert(t.engine_changes), rows)
        return int(self.conn.execute(_LAST_CHANGE).scalar_one())

    def changes_after(self, seq: int) -> tuple[int, list[tuple[str, str]]]:
        """The last change's sequence number and the declarations changed after `seq`
        (none when nothing changed: (seq, []))."""
        rows: Sequence[Any] | None = self._raw("changes_after", seq=seq)
        if rows is None:
            rows = self.conn.execute(_CHANGES_AFTER, {"seq": seq}).all()
        if not rows:
            return seq, []
        return int(rows[-1][0]), sorted({(r[1], r[2]) for r in rows})

    def last_change(self) -> int:
        return int(self.conn.execute(select(func.max(t.engine_changes.c.seq))).scalar() or 0)

    def first_change(self) -> int | None:
        found = self.conn.execute(select(func.min(t.engine_changes.c.seq))).scalar()
        return None if found is None else int(found)

    def prune_changes(self, keep: int) -> None:
        """Forget all but the last `keep` changes (a process further behind reloads)."""
        top = self.last_change()
        self.conn.execute(delete(t.engine_changes).where(t.engine_changes.c.seq <= top - keep))

    # parties -------------------------------------------------------------------------

    def add_party(self, party: Party, now_s: float) -> None:
        self._memo.clear()
        self.conn.execute(
            insert(t.parties).values(
                name=party.name, kind=str(party.kind), created_s=now_s, observers="[]"
            )
        )

    def party(self, name: str) -> Party | None:
        def read() -> Party | None:
            raw = self._raw("party", name=name)
            if raw is not None:
                return self._party(dict(zip(_PARTY_COLUMNS, raw[0], strict=True))) if raw else None
            row = self.conn.execute(_PARTY, {"name": name}).first()
            return None if row is None else self._party(row._mapping)

        found: Party | None = self._memoized("party", name, read)
        return found

    def _party(self, m: Any) -> Party:
        keys = tuple(self.keys_of(m["name"]).values())
        return Party(m["name"], PartyKind(m["kind"]), keys)

    def parties(self) -> list[Party]:
        def read() -> list[Party]:
            raw = self._raw("parties")
            if raw is not None:
                return [Party(r[0], PartyKind(r[1])) for r in raw]
            rows = self.conn.execute(_PARTIES).all()
            return [Party(r.name, PartyKind(r.kind)) for r in rows]

        return list(self._memoized("parties", "", read))

    def party_created(self, name: str) -> float | None:
        return self.conn.execute(
            select(t.parties.c.created_s).where(t.parties.c.name == name)
        ).scalar()

    def observers(self, name: str) -> list[str]:
        def read() -> list[str]:
            raw = self._raw("observers", name=name)
            if raw is not None:
                text = raw[0][0] if raw else None
            else:
                text = self.conn.execute(_OBSERVERS, {"name": name}).scalar()
            return list(json.loads(text)) if text else []

        return list(self._memoized("observers", name, read))

    def owners_observed_by(self, observer: str) -> list[str]:
        # Few parties: filter in Python rather than rely on JSON operators of one dialect.
        rows = self.conn.execute(select(t.parties.c.name, t.parties.c.observers)).all()
        return [r.name for r in rows if observer in json.loads(r.observers)]

    def set_observers(self, name: str, observers: Sequence[str]) -> None:
        self._memo.clear()
        self.conn.execute(
            update(t.parties)
            .where(t.parties.c.name == name)
            .values(observers=json.dumps(sorted(set(observers))))
        )

    # tokens and keys -----------------------------------------------------------------

    def add_token(self, token: TokenRow) -> None:
        self.conn.execute(insert(t.tokens).values(**_asdict(token)))

    def token(self, token_id: str) -> TokenRow | None:
        raw = self._raw("token", token_id=token_id)
        if raw is not None:
            return TokenRow(*raw[0]) if raw else None
        row = self.conn.execute(_TOKEN, {"token_id": token_id}).first()
        return None if row is None else TokenRow(**row._mapping)

    def tokens_of(self, party: str) -> list[TokenRow]:
        result = self.conn.execute(
            select(t.tokens).where(t.tokens.c.party == party).order_by(t.tokens.c.created_s)
        )
        return _rows(TokenRow, result)

    def revoke_token(self, token_id: str, now_s: float) -> int:
        return self.conn.execute(
            update(t.tokens)
            .where(t.tokens.c.token_id == token_id, t.tokens.c.revoked_s.is_(None))
            .values(revoked_s=now_s)
        ).rowcount

    def revoke_tokens_of(self, party: str, now_s: float, keep: str | None = None) -> int:
        cond = [t.tokens.c.party == party, t.tokens.c.revoked_s.is_(None)]
        if keep is not None:
            cond.append(t.tokens.c.token_id != keep)
        return self.conn.execute(update(t.tokens).where(*cond).values(revoked_s=now_s)).rowcount

    def add_key(self, key_id: str, party: str, raw: bytes, now_s: float) -> None:
        self._memo.clear()  # a party's keys are part of `party()`
        self.conn.execute(
            insert(t.keys).values(key_id=key_id, party=party, public_key=raw, created_s=now_s)
        )

    def key(self, key_id: str) -> tuple[str, bytes, float | None] | None:
        raw = self._raw("key", key_id=key_id)
        if raw is not None:  # key_id, party, public_key, created_s, revoked_s
            return (raw[0][1], raw[0][2], raw[0][4]) if raw else None
        row = self.conn.execute(_KEY, {"key_id": key_id}).first()
        return None if row is None else (row.party, row.public_key, row.revoked_s)

    def keys_of(self, party: str) -> dict[str, bytes]:
        rows: Sequence[Any] | None = self._raw("keys_of", party=party)
        if rows is None:
            rows = self.conn.execute(_KEYS_OF, {"party": party}).all()
        return {r[0]: r[1] for r in rows}

    def revoke_key(self, key_id: str, now_s: float) -> int:
        self._memo.clear()
        return self.conn.execute(
            update(t.keys)
            .where(t.keys.c.key_id == key_id, t.keys.c.revoked_s.is_(None))
            .values(revoked_s=now_s)
        ).rowcount

    # declarations --------------------------------------------------------------------

    def insert_declaration(self, row: DeclarationRow) -> None:
        self.touched.add((row.party, row.id))
        values = [getattr(row, name) for name in _DECLARATION_COLUMNS]
        if self._raw_write("insert_declaration", [values]) is None:
            self.conn.execute(_INSERT_DECLARATION, _asdict(row))

    def insert_declarations(self, rows: Sequence[DeclarationRow]) -> None:
        """Many rows in one statement (bulk loads: benchmarks, imports)."""
        if rows:
            self.touched.update((r.party, r.id) for r in rows)
            self.conn.execute(insert(t.declarations), [_asdict(r) for r in rows])

    def retire_versions(self, party: str, decl_id: str) -> None:
        """Mark every stored version of (party, id) as no longer current."""
        self.touched.add((party, decl_id))
        self.conn.execute(
            update(t.declarations)
            .where(t.declarations.c.party == party, t.declarations.c.id == decl_id)
            .values(current=False, live=False, due_s=None)
        )

    def update_clearance(
        self,
        party: str,
        decl_id: str,
        version: int,
        *,
        clearance: str,
        state: str,
        live: bool,
        due_s: float | None,
    ) -> None:
        self.touched.add((party, decl_id))
        self.conn.execute(
            update(t.declarations)
            .where(
                t.declarations.c.party == party,
                t.declarations.c.id == decl_id,
                t.declarations.c.version == version,
            )
            .values(clearance=clearance, state=state, live=live, due_s=due_s)
        )

    def set_shared(self, party: str, decl_id: str, shared: bool) -> None:
        self.conn.execute(
            update(t.declarations)
            .where(t.declarations.c.party == party, t.declarations.c.id == decl_id)
            .values(shared=shared)
        )

    def is_shared(self, party: str, decl_id: str) -> bool:
        """Whether the owner shares its declaration's current version with everyone."""
        found = self.conn.execute(
            select(t.declarations.c.shared).where(
                t.declarations.c.party == party,
                t.declarations.c.id == decl_id,
                t.declarations.c.current.is_(True),
            )
        ).scalar()
        return bool(found)

    def current(self, party: str, decl_id: str) -> DeclarationRow | None:
        raw = self._raw("current", party=party, id=decl_id)
        if raw is not None:
            return _declaration(raw[0]) if raw else None
        row = self.conn.execute(_CURRENT, {"party": party, "id": decl_id}).first()
        return None if row is None else DeclarationRow(**row._mapping)

    def exists(self, party: str, decl_id: str) -> bool:
        raw = self._raw("exists", party=party, id=decl_id)
        if raw is not None:
            return bool(raw)
        found = self.conn.execute(_EXISTS, {"party": party, "id": decl_id}).first()
        return found is not None

    def version(self, party: str, decl_id: str, version: int) -> DeclarationRow | None:
        row = self.conn.execute(_VERSION, {"party": party, "id": decl_id, "v": version}).first()
        return None if row is None else DeclarationRow(**row._mapping)

    def version_numbers(self, party: str, decl_id: str) -> list[int]:
        """The numbers of the stored versions of a declaration, oldest first."""
        raw: Sequence[Any] | None = self._raw("version_numbers", party=party, id=decl_id)
        if raw is None:
            raw = self.conn.execute(_VERSION_NUMBERS, {"party": party, "id": decl_id}).all()
        return [int(r[0]) for r in raw]

    def versions(self, party: str, decl_id: str) -> list[DeclarationRow]:
        result = self.conn.execute(_VERSIONS, {"party": party, "id": decl_id})
        return _rows(DeclarationRow, result)

    def live(self) -> Iterator[DeclarationRow]:
        """Every current declaration not in a final state (what the engine holds)."""
        driver = self._sqlite()
        if driver is not None:  # 100,000 rows: 1.4 s on the driver, 2.4 s through SQLAlchemy
            sql = _RAW["live"][0]
            try:
                cursor = driver.execute(sql)
            except sqlite3.Error as exc:
                raise _wrapped(sql, (), exc) from exc
            for raw in cursor:
                yield _declaration(raw)
            return
        result = self.conn.execute(_LIVE)
        for row in result:
            yield DeclarationRow(**row._mapping)

    def due_declarations(self, now_s: float, limit: int = 500) -> list[DeclarationRow]:
        result = self.conn.execute(
            select(t.declarations)
            .where(t.declarations.c.due_s.is_not(None), t.declarations.c.due_s <= now_s)
            .order_by(t.declarations.c.due_s)
            .limit(limit)
        )
        return _rows(DeclarationRow, result)

    def next_due(self) -> float | None:
        a = self.conn.execute(select(func.min(t.declarations.c.due_s))).scalar()
        b = self.conn.execute(select(func.min(t.messages.c.due_s))).scalar()
        found = [x for x in (a, b) if x is not None]
        return min(found) if found else None

    def current_of(
        self, parties: Sequence[str], after: tuple[str, str] | None, limit: int
    ) -> list[DeclarationRow]:
        """Current versions declared by `parties`, in (party, id) order, after a cursor."""
        q = select(t.declarations).where(
            t.declarations.c.current.is_(True), t.declarations.c.party.in_(list(parties))
        )
        if after is not None:
            q = q.where(
                or_(
                    t.declarations.c.party > after[0],
                    and_(t.declarations.c.party == after[0], t.declarations.c.id > after[1]),
                )
            )
        q = q.order_by(t.declarations.c.party, t.declarations.c.id).limit(limit)
        return _rows(DeclarationRow, self.conn.execute(q))

    def current_keys(self, keys: Iterable[tuple[str, str]]) -> list[DeclarationRow]:
        out = []
        for party, decl_id in keys:
            row = self.current(party, decl_id)
            if row is not None:
                out.append(row)
        return out

    def shared_current(self) -> list[tuple[str, str]]:
        rows = self.conn.execute(
            select(t.declarations.c.party, t.declarations.c.id).where(
                t.declarations.c.current.is_(True), t.declarations.c.shared.is_(True)
            )
        ).all()
        return [(r.party, r.id) for r in rows]

    # conflicts -----------------------------------------------------------------------

    def insert_conflicts(self, found: Sequence[Conflict]) -> None:
        if not found:
            return
        rows = [
            (c.party_a, c.a, c.party_b, c.b, c.start_s, c.end_s, c.min_distance_m, *c.at)
            for c in found
        ]
        if self._raw_write("insert_conflict", rows) is not None:
            return
        self.conn.execute(
            _INSERT_CONFLICTS,
            [
                {
                    "a_party": c.party_a,
                    "a_id": c.a,
                    "b_party": c.party_b,
                    "b_id": c.b,
                    "start_s": c.start_s,
                    "end_s": c.end_s,
                    "min_distance_m": c.min_distance_m,
                    "at_lon": c.at[0],
                    "at_lat": c.at[1],
                }
                for c in found
            ],
        )

    def conflicts_of(self, party: str, decl_id: str) -> list[Conflict]:
        rows: Sequence[Any] | None = self._raw("conflicts_of", party=party, id=decl_id)
        if rows is None:
            rows = self.conn.execute(_CONFLICTS_OF, {"party": party, "id": decl_id}).all()
        # Columns in table order: conflict_id, a_party, a_id, b_party, b_id, start_s, end_s,
        # min_distance_m, at_lon, at_lat.
        return [Conflict(r[2], r[4], r[1], r[3], r[5], r[6], r[7], (r[8], r[9])) for r in rows]

    def delete_conflicts_of(self, party: str, decl_id: str) -> None:
        c = t.conflicts.c
        self.conn.execute(
            delete(t.conflicts).where(
                or_(
                    and_(c.a_party == party, c.a_id == decl_id),
                    and_(c.b_party == party, c.b_id == decl_id),
                )
            )
        )

    def conflicting_with(self, party: str) -> set[tuple[str, str]]:
        """Declarations of other parties that conflict with one of `party`'s."""
        c = t.conflicts.c
        a = self.conn.execute(
            select(c.b_party, c.b_id).where(c.a_party == party, c.b_party != party)
        ).all()
        b = self.conn.execute(
            select(c.a_party, c.a_id).where(c.b_party == party, c.a_party != party)
        ).all()
        return {(r[0], r[1]) for r in a} | {(r[0], r[1]) for r in b}

    # notifications -------------------------------------------------------------------

    def insert_notifications(self, rows: Sequence[NotificationRow]) -> None:
        if rows:
            values = [[getattr(r, name) for name in _NOTIFICATION_COLUMNS] for r in rows]
            if self._raw_write("insert_notification", values) is not None:
                return
            self.conn.execute(_INSERT_NOTIFICATIONS, [_asdict(r) for r in rows])

    def close_notification(
        self, party: str, decl_id: str, version: int, notified: str | None = None
    ) -> None:
        n = t.notifications.c
        cond = [n.party == party, n.id == decl_id, n.version == version]
        if notified is not None:
            cond.append(n.notified == notified)
        self.conn.execute(update(t.notifications).where(*cond).values(open=False))

    def notification(
        self, party: str, decl_id: str, version: int, notified: str
    ) -> NotificationRow | None:
        raw = self._raw("notification", party=party, id=decl_id, v=version, notified=notified)
        if raw is not None:
            if not raw:
                return None
            values: list[Any] = [*raw[0][:-1], bool(raw[0][-1])]  # `open`: 0 or 1 on SQLite
            return NotificationRow(*values)
        row = self.conn.execute(
            _NOTIFICATION, {"party": party, "id": decl_id, "v": version, "notified": notified}
        ).first()
        return None if row is None else NotificationRow(**row._mapping)

    def notified_of(self, notified: str, open_only: bool) -> list[NotificationRow]:
        n = t.notifications.c
        q = select(t.notifications).where(n.notified == notified)
        if open_only:
            q = q.where(n.open.is_(True))
        return _rows(NotificationRow, self.conn.execute(q.order_by(n.deadline_s)))

    # events and webhooks -------------------------------------------------------------

    def insert_event(self, recipient: str, kind: str, at_s: float, payload: str) -> int:
        last = self._raw_write("insert_event", [(recipient, kind, at_s, payload)])
        if last is not None:
            return last
        result = self.conn.execute(
            _INSERT_EVENT, {"recipient": recipient, "type": kind, "at_s": at_s, "payload": payload}
        )
        seq = result.inserted_primary_key
        assert seq is not None
        return int(seq[0])

    def insert_events(self, rows: Sequence[tuple[str, str, float, str]]) -> None:
        """Many (recipient, type, at_s, payload) events in one statement (bulk loads); no
        webhook deliveries are queued for them."""
        if rows:
            self.conn.execute(
                insert(t.events),
                [{"recipient": r, "type": k, "at_s": a, "payload": p} for r, k, a, p in rows],
            )

    def events_after(self, recipient: str, after: int, limit: int) -> list[EventRow]:
        e = t.events.c
        result = self.conn.execute(
            select(t.events)
            .where(e.recipient == recipient, e.seq > after)
            .order_by(e.seq)
            .limit(limit)
        )
        return _rows(EventRow, result)

    def event(self, seq: int) -> EventRow | None:
        row = self.conn.execute(select(t.events).where(t.events.c.seq == seq)).first()
        return None if row is None else EventRow(**row._mapping)

    def add_webhook(self, row: WebhookRow) -> None:
        self._memo.clear()
        self.conn.execute(insert(t.webhooks).values(**_asdict(row)))

    def webhook(self, hook_id: str) -> WebhookRow | None:
        row = self.conn.execute(select(t.webhooks).where(t.webhooks.c.hook_id == hook_id)).first()
        return None if row is None else WebhookRow(**row._mapping)

    def webhooks_of(self, party: str) -> list[WebhookRow]:
        def read() -> list[WebhookRow]:
            raw = self._raw("webhooks_of", party=party)
            if raw is not None:
                return [WebhookRow(*r) for r in raw]
            return _rows(WebhookRow, self.conn.execute(_WEBHOOKS_OF, {"party": party}))

        return list(self._memoized("webhooks", party, read))

    def delete_webhook(self, hook_id: str, now_s: float) -> None:
        self._memo.clear()
        self.conn.execute(
            update(t.webhooks).where(t.webhooks.c.hook_id == hook_id).values(deleted_s=now_s)
        )
        self.conn.execute(
            update(t.deliveries)
            .where(t.deliveries.c.hook_id == hook_id, t.deliveries.c.status == "pending")
            .values(status="cancelled", next_s=None, updated_s=now_s)
        )

    def add_delivery(self, hook_id: str, event_seq: int, now_s: float) -> None:
        self.conn.execute(
            insert(t.deliveries).values(
                hook_id=hook_id,
                event_seq=event_seq,
                status="pending",
                attempts=0,
                next_s=now_s,
                updated_s=now_s,
            )
        )

    def due_deliveries(self, now_s: float, limit: int) -> list[DeliveryRow]:
        d = t.deliveries.c
        result = self.conn.execute(
            select(t.deliveries)
            .where(d.status == "pending", d.next_s <= now_s)
            .order_by(d.next_s, d.delivery_id)
            .limit(limit)
        )
        return _rows(DeliveryRow, result)

    def claim_deliveries(self, ids: Sequence[int], until_s: float) -> None:
        """Take due deliveries for one attempt: they are not due again before `until_s`
        (another process leaves them alone; if this one dies, they fall due again)."""
        if ids:
            d = t.deliveries.c
            self.conn.execute(
                update(t.deliveries).where(d.delivery_id.in_(list(ids))).values(next_s=until_s)
            )

    def next_delivery(self) -> float | None:
        d = t.deliveries.c
        return self.conn.execute(select(func.min(d.next_s)).where(d.status == "pending")).scalar()

    def record_attempt(
        self,
        delivery_id: int,
        *,
        status: str,
        attempts: int,
        next_s: float | None,
        last_status: int | None,
        last_error: str | None,
        now_s: float,
    ) -> None:
        self.conn.execute(
            update(t.deliveries)
            .where(t.deliveries.c.delivery_id == delivery_id)
            .values(
                status=status,
                attempts=attempts,
                next_s=next_s,
                last_status=last_status,
                last_error=last_error,
                updated_s=now_s,
            )
        )

    def deliveries_of(self, hook_id: str, limit: int) -> list[DeliveryRow]:
        d = t.deliveries.c
        result = self.conn.execute(
            select(t.deliveries)
            .where(d.hook_id == hook_id)
            .order_by(d.delivery_id.desc())
            .limit(limit)
        )
        return _rows(DeliveryRow, result)

    # messages ------------------------------------------------------------------------

    def insert_message(self, row: MessageRow) -> None:
        self.conn.execute(insert(t.messages).values(**_asdict(row)))

    def message(self, message_id: str) -> MessageRow | None:
        row = self.conn.execute(
            select(t.messages).where(t.messages.c.message_id == message_id)
        ).first()
        return None if row is None else MessageRow(**row._mapping)

    def messages_of(self, party: str, limit: int, after: str | None) -> list[MessageRow]:
        m = t.messages.c
        q = select(t.messages).where(or_(m.sender == party, m.recipient == party))
        if after is not None:
            q = q.where(m.message_id > after)
        return _rows(MessageRow, self.conn.execute(q.order_by(m.message_id).limit(limit)))

    def update_message(self, message_id: str, **values: Any) -> None:
        self.conn.execute(
            update(t.messages).where(t.messages.c.message_id == message_id).values(**values)
        )

    def due_messages(self, now_s: float) -> list[MessageRow]:
        m = t.messages.c
        result = self.conn.execute(
            select(t.messages).where(m.due_s.is_not(None), m.due_s <= now_s).order_by(m.due_s)
        )
        return _rows(MessageRow, result)

    # idempotency ---------------------------------------------------------------------

    def idempotent(self, party: str, key: str) -> tuple[str, int, str] | None:
        row = self.conn.execute(_IDEMPOTENT, {"party": party, "key": key}).first()
        return None if row is None else (row[0], row[1], row[2])

    def remember(
        self, party: str, key: str, request_sha256: str, status: int, body: str, now_s: float
    ) -> None:
        self.conn.execute(
            insert(t.idempotency).values(
                party=party,
                key=key,
                request_sha256=request_sha256,
                status=status,
                body=body,
                created_s=now_s,
            )
        )

    # incidents -------------------------------------------------------------------------

    def insert_incident(self, row: IncidentRow) -> None:
        self.conn.execute(insert(t.incidents).values(**_asdict(row)))

    def incident(self, incident_id: str) -> IncidentRow | None:
        row = self.conn.execute(
            select(t.incidents).where(t.incidents.c.incident_id == incident_id)
        ).first()
        return None if row is None else IncidentRow(**row._mapping)

    def incidents_of(self, party: str | None, limit: int, after: str | None) -> list[IncidentRow]:
        """Incidents filed by or against `party` (every incident for None), by id."""
        i = t.incidents.c
        q = select(t.incidents)
        if party is not None:
            q = q.where(or_(i.filer == party, i.against == party))
        if after is not None:
            q = q.where(i.incident_id > after)
        return _rows(IncidentRow, self.conn.execute(q.order_by(i.incident_id).limit(limit)))

    def update_incident(self, incident_id: str, **values: Any) -> None:
        self.conn.execute(
            update(t.incidents).where(t.incidents.c.incident_id == incident_id).values(**values)
        )

    def due_incidents(self, now_s: float) -> list[IncidentRow]:
        i = t.incidents.c
        result = self.conn.execute(
            select(t.incidents).where(i.due_s.is_not(None), i.due_s <= now_s).order_by(i.due_s)
        )
        return _rows(IncidentRow, result)

    def awaiting_incidents(self, party: str) -> list[IncidentRow]:
        """Incidents against `party` that await its first account (no finding yet)."""
        i = t.incidents.c
        q = select(t.incidents).where(
            i.against == party, i.answered_s.is_(None), i.found_s.is_(None)
        )
        return _rows(IncidentRow, self.conn.execute(q.order_by(i.incident_id)))

    def add_incident_account(
        self, incident_id: str, party: str, text: str, at_s: float, log_index: int
    ) -> None:
        self.conn.execute(
            insert(t.incident_accounts).values(
                incident_id=incident_id, party=party, text=text, at_s=at_s, log_index=log_index
            )
        )

    def incident_accounts(self, incident_id: str) -> list[tuple[str, str, float, int]]:
        """(party, text, at_s, log index) of each account, in order."""
        a = t.incident_accounts.c
        result = self.conn.execute(
            select(a.party, a.text, a.at_s, a.log_index)
            .where(a.incident_id == incident_id)
            .order_by(a.account_id)
        )
        return [(r[0], r[1], r[2], r[3]) for r in result]

    def add_incident_attachments(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(insert(t.incident_attachments), list(rows))

    def incident_attachments(
        self, incident_id: str, with_content: bool = False
    ) -> list[dict[str, Any]]:
        """Each attachment of an incident in order: n, name, media_type, size, sha256
        (and content when asked)."""
        a = t.incident_attachments.c
        cols = [a.n, a.name, a.media_type, a.size, a.sha256]
        if with_content:
            cols.append(a.content)
        result = self.conn.execute(select(*cols).where(a.incident_id == incident_id).order_by(a.n))
        return [dict(r._mapping) for r in result]

    def add_incident_evidence(self, row: dict[str, Any]) -> int:
        """Keep one evidence bundle of an incident; returns its number (0, 1, ...)."""
        e = t.incident_evidence.c
        last = self.conn.execute(
            select(func.max(e.n)).where(e.incident_id == row["incident_id"])
        ).scalar()
        n = 0 if last is None else int(last) + 1
        self.conn.execute(insert(t.incident_evidence).values(**row, n=n))
        return n

    def incident_evidence(
        self, incident_id: str, with_report: bool = False
    ) -> list[dict[str, Any]]:
        """Each evidence bundle of an incident in order: n, by, at_s, sha256, checkpoint_id,
        tree_size, cited, log_index (and report, checkpoint, log_key when asked)."""
        e = t.incident_evidence.c
        cols = [e.n, e.by, e.at_s, e.sha256, e.checkpoint_id, e.tree_size, e.cited, e.log_index]
        if with_report:
            cols += [e.report, e.checkpoint, e.log_key]
        result = self.conn.execute(select(*cols).where(e.incident_id == incident_id).order_by(e.n))
        return [dict(r._mapping) for r in result]


def _asdict(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__slots__}


@dataclass(frozen=True, slots=True)
class IncidentRow:
    incident_id: str
    filer: str
    against: str
    at_s: float
    lon: float
    lat: float
    radius_m: float
    category: str
    description: str
    filed_s: float
    rfi_deadline_s: float
    answered_s: float | None
    escalated_s: float | None
    due_s: float | None
    proposed_by: str | None
    proposed_finding: str | None
    proposed_outcome: str | None
    finding: str | None
    outcome: str | None
    found_by: str | None
    found_s: float | None
