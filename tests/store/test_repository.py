"""The repository round-trips what the service stores, on a real SQLite file: declaration
versions, tokens (kept only as hashes), the event sequence, idempotency records."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from deconflict.model.conflicts import Conflict
from deconflict.model.parties import Party, PartyKind
from deconflict.service.auth import authenticate, issue_token
from deconflict.store.database import Database
from deconflict.store.repository import DeclarationRow, NotificationRow, Repository


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    d = Database(str(tmp_path / "store.sqlite"))
    try:
        yield d
    finally:
        d.close()


def row(decl_id: str, version: int, **changes: object) -> DeclarationRow:
    base = DeclarationRow(
        party="A",
        id=decl_id,
        version=version,
        kind="movement",
        current=True,
        live=True,
        feature='{"type":"Feature"}',
        shared=False,
        state="pending",
        late=False,
        submitted_s=1000.0 + version,
        clearance='{"state":"pending"}',
        due_s=5000.0,
        etag=f"etag-{decl_id}-{version}",
        signature=b"\x00\xffsig",
        key_id="k1",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_parties_round_trip(db: Database) -> None:
    with db.write() as conn:
        repo = Repository(conn)
        repo.add_party(Party("B", PartyKind.HUMANITARIAN), 10.0)
        repo.add_party(Party("A", PartyKind.FORCE), 11.0)
        repo.add_party(Party("obs", PartyKind.OBSERVER), 12.0)
        repo.add_key("key-1", "A", bytes(range(32)), 13.0)
        repo.set_observers("A", ["obs", "obs"])
    with db.read() as conn:
        repo = Repository(conn)
        assert [(p.name, p.kind) for p in repo.parties()] == [
            ("A", PartyKind.FORCE),
            ("B", PartyKind.HUMANITARIAN),
            ("obs", PartyKind.OBSERVER),
        ]
        a = repo.party("A")
        assert a is not None and a.public_keys == (bytes(range(32)),)
        assert repo.party("nobody") is None
        assert repo.party_created("B") == 10.0
        assert repo.observers("A") == ["obs"] and repo.observers("B") == []
        assert repo.owners_observed_by("obs") == ["A"]
        assert repo.key("key-1") == ("A", bytes(range(32)), None)


def test_declaration_versions_round_trip(db: Database) -> None:
    v1 = row("m1", 1)
    v2 = row("m1", 2, feature='{"type":"Feature","v":2}', signature=None, key_id=None)
    with db.write() as conn:
        repo = Repository(conn)
        repo.insert_declaration(v1)
        repo.retire_versions("A", "m1")
        repo.insert_declaration(v2)
        repo.insert_declaration(row("m2", 1, party="B", due_s=None))
    with db.read() as conn:
        repo = Repository(conn)
        assert repo.versions("A", "m1") == [
            replace(v1, current=False, live=False, due_s=None),
            v2,
        ]
        assert repo.current("A", "m1") == v2
        assert repo.version("A", "m1", 1) == replace(v1, current=False, live=False, due_s=None)
        assert repo.version("A", "m1", 3) is None
        assert repo.exists("A", "m1") and not repo.exists("A", "m9")
        assert sorted((r.party, r.id, r.version) for r in repo.live()) == [
            ("A", "m1", 2),
            ("B", "m2", 1),
        ]
        assert [r.id for r in repo.due_declarations(6000.0)] == ["m1"]
        assert repo.due_declarations(4999.0) == []
        assert repo.next_due() == 5000.0
        assert [(r.party, r.id) for r in repo.current_of(["A", "B"], None, 10)] == [
            ("A", "m1"),
            ("B", "m2"),
        ]
        assert [(r.party, r.id) for r in repo.current_of(["A", "B"], ("A", "m1"), 10)] == [
            ("B", "m2")
        ]


def test_a_stored_version_cannot_be_written_twice(db: Database) -> None:
    with db.write() as conn:
        Repository(conn).insert_declaration(row("m1", 1))
    with pytest.raises(IntegrityError), db.write() as conn:
        Repository(conn).insert_declaration(row("m1", 1, feature="{}"))
    with db.read() as conn:
        assert Repository(conn).current("A", "m1") == row("m1", 1)


def test_update_clearance_changes_only_that_version(db: Database) -> None:
    with db.write() as conn:
        repo = Repository(conn)
        repo.insert_declaration(row("m1", 1))
        repo.update_clearance(
            "A", "m1", 1, clearance='{"state":"cleared"}', state="cleared", live=False, due_s=None
        )
        repo.set_shared("A", "m1", True)
    with db.read() as conn:
        repo = Repository(conn)
        found = repo.current("A", "m1")
        assert found == row(
            "m1",
            1,
            clearance='{"state":"cleared"}',
            state="cleared",
            live=False,
            due_s=None,
            shared=True,
        )
        assert list(repo.live()) == [] and repo.next_due() is None
        assert repo.shared_current() == [("A", "m1")]


def test_conflicts_and_notifications_round_trip(db: Database) -> None:
    late = Conflict("m1", "z9", "A", "C", 300.0, 400.0, 12.5, (36.25, 35.125))
    early = Conflict("m1", "m2", "A", "B", 100.0, 200.0, 0.0, (36.0, 35.0))
    other = Conflict("m2", "z9", "B", "C", 50.0, 60.0, 1.0, (0.0, 0.0))
    open_b = NotificationRow("A", "m1", 1, "B", "conflict", 900.0, True)
    open_c = NotificationRow("A", "m1", 1, "C", "conflict,humanitarian", 800.0, True)
    with db.write() as conn:
        repo = Repository(conn)
        repo.insert_conflicts([late, early, other])
        repo.insert_conflicts([])
        repo.insert_notifications([open_b, open_c])
        repo.close_notification("A", "m1", 1, notified="B")
    with db.read() as conn:
        repo = Repository(conn)
        assert repo.conflicts_of("A", "m1") == [early, late]  # by start time
        assert repo.conflicts_of("C", "z9") == [other, late]  # found from either side
        assert repo.conflicting_with("A") == {("B", "m2"), ("C", "z9")}
        assert repo.notification("A", "m1", 1, "B") == replace(open_b, open=False)
        assert repo.notified_of("C", open_only=True) == [open_c]
        assert repo.notified_of("B", open_only=True) == []
        assert repo.notified_of("B", open_only=False) == [replace(open_b, open=False)]
    with db.write() as conn:
        Repository(conn).delete_conflicts_of("A", "m1")
    with db.read() as conn:
        repo = Repository(conn)
        assert repo.conflicts_of("A", "m1") == [] and repo.conflicts_of("B", "m2") == [other]


def test_tokens_are_stored_hashed_never_in_clear(db: Database, tmp_path: Path) -> None:
    with db.write() as conn:
        repo = Repository(conn)
        repo.add_party(Party("A", PartyKind.FORCE), 1.0)
        issued = issue_token(repo, "A", 2.0, "first")
        other = issue_token(repo, "A", 3.0, "second")
    secret = issued.token.split("_", 2)[2]
    assert len(secret) >= 40
    with db.read() as conn:
        repo = Repository(conn)
        stored = repo.token(issued.token_id)
        assert stored is not None
        assert (stored.party, stored.created_s, stored.revoked_s, stored.label) == (
            "A",
            2.0,
            None,
            "first",
        )
        assert secret not in stored.secret_sha256 and len(stored.secret_sha256) == 64
        assert [t.token_id for t in repo.tokens_of("A")] == [issued.token_id, other.token_id]
        assert authenticate(repo, f"Bearer {issued.token}").party == "A"

    def on_disk() -> bytes:
        return b"".join(p.read_bytes() for p in sorted(tmp_path.glob("store.sqlite*")))

    assert issued.token_id.encode() in on_disk()  # the data is there to be found...
    assert secret.encode() not in on_disk()  # ...but the secret never is, WAL included
    assert other.token.split("_", 2)[2].encode() not in on_disk()
    db.close()  # checkpoint the WAL into the main file, then look again
    assert secret.encode() not in on_disk()


def test_revoking_tokens(db: Database) -> None:
    with db.write() as conn:
        repo = Repository(conn)
        a = issue_token(repo, "A", 1.0)
        b = issue_token(repo, "A", 2.0)
        c = issue_token(repo, "A", 3.0)
        other = issue_token(repo, "B", 4.0)
        assert repo.revoke_token(a.token_id, 5.0) == 1
        assert repo.revoke_token(a.token_id, 6.0) == 0  # already revoked: keeps its time
        assert repo.revoke_tokens_of("A", 7.0, keep=c.token_id) == 1  # only b was left
    with db.read() as conn:
        repo = Repository(conn)
        revoked = {t.token_id: t.revoked_s for t in repo.tokens_of("A")}
        assert revoked == {a.token_id: 5.0, b.token_id: 7.0, c.token_id: None}
        assert repo.token(other.token_id) is not None
        assert repo.token(other.token_id).revoked_s is None  # type: ignore[union-attr]


def test_event_sequence_is_monotonic_and_filtered_by_recipient(db: Database) -> None:
    seqs: list[int] = []
    for i in range(3):  # separate transactions, as the service writes them
        with db.write() as conn:
            repo = Repository(conn)
            seqs.append(repo.insert_event("A", "declaration.updated", float(i), f'{{"i":{i}}}'))
            seqs.append(repo.insert_event("B", "message.received", float(i), "{}"))
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    with pytest.raises(RuntimeError), db.write() as conn:  # a rolled-back event...
        Repository(conn).insert_event("A", "x", 9.0, "{}")
        raise RuntimeError
    with db.write() as conn:  # ...is never seen, and the next one still comes after all
        seqs.append(Repository(conn).insert_event("A", "late", 10.0, "{}"))
    assert seqs[-1] > seqs[-2]
    with db.read() as conn:
        repo = Repository(conn)
        mine = repo.events_after("A", 0, 100)
        assert [e.seq for e in mine] == [seqs[0], seqs[2], seqs[4], seqs[6]]
        assert [e.payload for e in mine[:3]] == ['{"i":0}', '{"i":1}', '{"i":2}']
        assert [e.type for e in mine] == ["declaration.updated"] * 3 + ["late"]
        assert [e.seq for e in repo.events_after("A", seqs[2], 1)] == [seqs[4]]
        assert repo.events_after("A", seqs[6], 100) == []
        first = repo.event(seqs[1])
        assert first is not None and (first.recipient, first.type) == ("B", "message.received")


def test_idempotency_rows_round_trip(db: Database) -> None:
    with db.write() as conn:
        repo = Repository(conn)
        assert repo.idempotent("A", "key-1") is None
        repo.remember("A", "key-1", "f" * 64, 201, '{"ok":true}', 1.0)
        repo.remember("B", "key-1", "e" * 64, 422, '{"error":"x"}', 2.0)
    with db.read() as conn:
        repo = Repository(conn)
        assert repo.idempotent("A", "key-1") == ("f" * 64, 201, '{"ok":true}')
        assert repo.idempotent("B", "key-1") == ("e" * 64, 422, '{"error":"x"}')
        assert repo.idempotent("A", "key-2") is None
    with pytest.raises(IntegrityError), db.write() as conn:  # a key is remembered once
        Repository(conn).remember("A", "key-1", "0" * 64, 200, "{}", 3.0)
