"""/v1/log through a real `deconflict serve` (docs/record.md, SPEC §6): the log key,
checkpoints signed on demand (operator only), entries, inclusion and consistency proofs
that verify against the served checkpoints, and witness cosignatures by a party's
registered key. One server for the module: each test adds what it needs."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.server import Party, Server
from deconflict.record import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    SigningKey,
    cosign_checkpoint,
    leaf_hash,
    parse_checkpoint,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)

ORIGIN = "deconflict.test/api"
# The interval is long so that the checkpoints are the ones the tests ask for.
CONFIG = f'checkpoint_interval_s = 3600\nlog_origin = "{ORIGIN}"\n'


@pytest.fixture(scope="module")
def srv(store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(
        tmp_path_factory.mktemp("record") / "deconflict.sqlite", store=store, config=CONFIG
    ).start()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="module")
def parties(srv: Server) -> dict[str, Party]:
    return {name: srv.add_party(name, "force") for name in ("US-CJTF", "RU-FORCES")}


@pytest.fixture(scope="module")
def log_key(srv: Server, parties: dict[str, Party]) -> NoteVerifier:
    r = parties["US-CJTF"].get("/v1/log/key")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["origin"] == ORIGIN
    key = NoteVerifier.parse(doc["verifier_key"])
    assert key.name == ORIGIN
    # The same key the server wrote beside its store (mode 0600) and printed on start.
    path = srv.db.with_name(srv.db.name + ".log-key")
    assert NoteSigner.parse(path.read_text().strip()).verifier == key
    assert path.stat().st_mode & 0o077 == 0
    assert doc["verifier_key"] in srv.log()
    return key


def checkpoint_now(srv: Server) -> dict[str, Any]:
    r = srv.operator.post("/v1/log/checkpoint")
    assert r.status_code == 201, r.text
    return dict(r.json())


def verified(note: str, key: NoteVerifier) -> Checkpoint:
    return verify_checkpoint(note, key, origin=ORIGIN).checkpoint


def b64d(items: list[str]) -> list[bytes]:
    return [base64.b64decode(x) for x in items]


def all_entries(p: Party, limit: int = 3) -> list[str]:
    out: list[str] = []
    start: int | None = 0
    while start is not None:
        r = p.get("/v1/log/entries", params={"start": start, "limit": limit})
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["start"] == start and len(page["entries"]) <= limit
        out += page["entries"]
        start = page["next"]
    assert len(out) == page["size"]
    return out


def test_no_token_is_refused(srv: Server) -> None:
    anon = srv.client(None)
    for path in (
        "/v1/log/key",
        "/v1/log/checkpoint",
        "/v1/log/entries",
        "/v1/log/checkpoints",
        "/v1/log/entries/0/proof",
        "/v1/log/consistency?old_size=0",
    ):
        r = anon.get(path)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", path
    assert anon.post("/v1/log/checkpoint").status_code == 401
    assert anon.post("/v1/log/checkpoints/1/cosign", json={"note": "x"}).status_code == 401


def test_only_the_operator_asks_for_a_checkpoint(
    srv: Server, parties: dict[str, Party], log_key: NoteVerifier
) -> None:
    r = parties["US-CJTF"].post("/v1/log/checkpoint")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    made = checkpoint_now(srv)
    head = verified(made["note"], log_key)
    assert head.tree_size == made["tree_size"] > 0 and head.time is not None
    latest = parties["RU-FORCES"].get("/v1/log/checkpoint")
    assert latest.status_code == 200 and latest.json() == made
    # Nothing appended since: asking again keeps the same checkpoint.
    assert checkpoint_now(srv) == made


def test_entries_hold_the_registrations_and_no_secret(
    srv: Server, parties: dict[str, Party], log_key: NoteVerifier
) -> None:
    head = verified(checkpoint_now(srv)["note"], log_key)
    texts = all_entries(parties["US-CJTF"])
    assert len(texts) >= head.tree_size
    import json

    entries = [json.loads(t) for t in texts]
    assert [e["index"] for e in entries] == list(range(len(entries)))
    registered = {e["data"]["party"] for e in entries if e["type"] == "party.registered"}
    assert registered >= {"US-CJTF", "RU-FORCES"}
    for p in parties.values():  # a token's secret is never in the log
        assert all(p.token not in t and p.token.split("_", 2)[2] not in t for t in texts)
    # The entries up to the checkpoint have its root.
    from deconflict.record import root_from_leaf_hashes

    leaves = [leaf_hash(t.encode()) for t in texts[: head.tree_size]]
    assert root_from_leaf_hashes(leaves) == head.root_hash
    # One entry alone, with the contents the caller may open (none here).
    r = parties["RU-FORCES"].get("/v1/log/entries/0")
    assert r.status_code == 200 and r.json()["entry"] == texts[0]
    assert parties["RU-FORCES"].get(f"/v1/log/entries/{len(texts) + 50}").status_code == 404


def test_every_entry_proof_verifies_against_the_checkpoint(
    srv: Server, parties: dict[str, Party], log_key: NoteVerifier
) -> None:
    made = checkpoint_now(srv)
    head = verified(made["note"], log_key)
    p = parties["RU-FORCES"]
    for index in range(head.tree_size):
        r = p.get(f"/v1/log/entries/{index}/proof")
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["index"] == index and doc["tree_size"] == head.tree_size
        assert base64.b64decode(doc["root_hash"]) == head.root_hash
        leaf = leaf_hash(doc["entry"].encode())
        assert base64.b64decode(doc["leaf_hash"]) == leaf
        verify_inclusion(leaf, index, head.tree_size, b64d(doc["proof"]), head.root_hash)
    # At an explicit earlier size, against that size's root.
    if head.tree_size > 2:
        doc = p.get("/v1/log/entries/1/proof", params={"tree_size": 2}).json()
        c = p.get("/v1/log/consistency", params={"old_size": 2}).json()
        verify_inclusion(
            leaf_hash(doc["entry"].encode()),
            1,
            2,
            b64d(doc["proof"]),
            base64.b64decode(c["old_root"]),
        )
    r = p.get(f"/v1/log/entries/{head.tree_size + 100}/proof")
    assert r.status_code == 404
    r = p.get("/v1/log/entries/0/proof", params={"tree_size": 10**9})
    assert r.status_code == 422


def test_consistency_between_two_checkpoints_verifies(
    srv: Server, parties: dict[str, Party], log_key: NoteVerifier
) -> None:
    old = verified(checkpoint_now(srv)["note"], log_key)
    srv.add_party("UN-OCHA", "humanitarian")  # the log grows
    new = verified(checkpoint_now(srv)["note"], log_key)
    assert new.tree_size > old.tree_size
    r = parties["US-CJTF"].get(
        "/v1/log/consistency", params={"old_size": old.tree_size, "new_size": new.tree_size}
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    assert (doc["old_size"], doc["new_size"]) == (old.tree_size, new.tree_size)
    assert base64.b64decode(doc["old_root"]) == old.root_hash
    assert base64.b64decode(doc["new_root"]) == new.root_hash
    verify_consistency(
        old.tree_size, new.tree_size, old.root_hash, new.root_hash, b64d(doc["proof"])
    )
    # From every earlier size, against the new checkpoint.
    for size in range(new.tree_size + 1):
        doc = (
            parties["US-CJTF"]
            .get("/v1/log/consistency", params={"old_size": size, "new_size": new.tree_size})
            .json()
        )
        verify_consistency(
            size,
            new.tree_size,
            base64.b64decode(doc["old_root"]),
            new.root_hash,
            b64d(doc["proof"]),
        )
    r = parties["US-CJTF"].get("/v1/log/consistency", params={"old_size": new.tree_size + 999})
    assert r.status_code == 422


def cosigned_by(p: Party, checkpoint_id: int) -> list[str]:
    found = p.get("/v1/log/checkpoints", params={"after": checkpoint_id - 1, "limit": 1})
    assert found.status_code == 200, found.text
    [c] = found.json()["checkpoints"]
    assert c["id"] == checkpoint_id
    return list(c["cosigned_by"])


def test_a_party_witnesses_a_checkpoint_with_its_registered_key(
    srv: Server, parties: dict[str, Party], log_key: NoteVerifier
) -> None:
    us = parties["US-CJTF"]
    key = SigningKey.generate()
    raw = base64.b64encode(key.public_key.to_raw()).decode()
    r = us.post("/v1/parties/US-CJTF/keys", json={"public_key": raw})
    assert r.status_code == 201, r.text
    made = checkpoint_now(srv)
    note = cosign_checkpoint(made["note"], NoteSigner("US-CJTF", key))
    # The witness's note still verifies for anyone holding only the log key.
    assert verified(note, log_key).tree_size == made["tree_size"]
    r = us.post(f"/v1/log/checkpoints/{made['id']}/cosign", json={"note": note})
    assert r.status_code == 201, r.text
    assert r.json() == {"checkpoint": made["id"], "party": "US-CJTF"}
    assert cosigned_by(us, made["id"]) == ["US-CJTF"]
    # The cosignature is itself an entry of the log.
    texts = all_entries(us, limit=1000)
    assert any(
        '"type":"checkpoint.cosigned"' in t
        and '"by":"US-CJTF"' in t
        and f'"checkpoint":{made["id"]}' in t
        for t in texts
    )


@pytest.mark.parametrize(
    "case", ["unregistered key", "another party's name", "another checkpoint", "log key only"]
)
def test_a_cosignature_that_is_not_the_partys_is_refused(
    srv: Server, parties: dict[str, Party], log_key: NoteVerifier, case: str
) -> None:
    ru = parties["RU-FORCES"]
    registered = SigningKey.generate()
    r = ru.post(
        "/v1/parties/RU-FORCES/keys",
        json={"public_key": base64.b64encode(registered.public_key.to_raw()).decode()},
    )
    assert r.status_code == 201, r.text
    first = checkpoint_now(srv)
    srv.add_party("P-" + "".join(c for c in case if c.isalpha()), "observer")
    made = checkpoint_now(srv)
    if case == "unregistered key":
        note = cosign_checkpoint(made["note"], NoteSigner("RU-FORCES", SigningKey.generate()))
    elif case == "another party's name":
        note = cosign_checkpoint(made["note"], NoteSigner("US-CJTF", registered))
    elif case == "another checkpoint":
        note = cosign_checkpoint(first["note"], NoteSigner("RU-FORCES", registered))
    else:
        note = made["note"]
    r = ru.post(f"/v1/log/checkpoints/{made['id']}/cosign", json={"note": note})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"].endswith(".")
    assert cosigned_by(ru, made["id"]) == []


def test_the_operator_does_not_witness_and_bad_bodies_are_refused(
    srv: Server, parties: dict[str, Party], log_key: NoteVerifier
) -> None:
    made = checkpoint_now(srv)
    r = srv.operator.post(f"/v1/log/checkpoints/{made['id']}/cosign", json={"note": made["note"]})
    assert r.status_code == 403
    us = parties["US-CJTF"]
    for body in ({"note": 5}, {}, ["x"], {"note": "not a note"}):
        r = us.post(f"/v1/log/checkpoints/{made['id']}/cosign", json=body)
        assert r.status_code == 422, (body, r.text)
    r = us.post(
        f"/v1/log/checkpoints/{made['id']}/cosign",
        content=b"{",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422
    r = us.post("/v1/log/checkpoints/999999/cosign", json={"note": made["note"]})
    assert r.status_code == 404


def test_checkpoints_are_listed_in_order_and_each_verifies(
    srv: Server, parties: dict[str, Party], log_key: NoteVerifier
) -> None:
    checkpoint_now(srv)
    r = parties["RU-FORCES"].get("/v1/log/checkpoints", params={"limit": 500})
    assert r.status_code == 200
    found = r.json()["checkpoints"]
    assert found and [c["id"] for c in found] == sorted(c["id"] for c in found)
    sizes = [verified(c["note"], log_key).tree_size for c in found]
    assert sizes == [c["tree_size"] for c in found] == sorted(sizes)
    assert parse_checkpoint(found[-1]["note"])[0].origin == ORIGIN
    # Each later checkpoint is consistent with each earlier one.
    p = parties["RU-FORCES"]
    for a, b in zip(found, found[1:], strict=False):
        ha, hb = verified(a["note"], log_key), verified(b["note"], log_key)
        doc = p.get(
            "/v1/log/consistency", params={"old_size": ha.tree_size, "new_size": hb.tree_size}
        ).json()
        verify_consistency(
            ha.tree_size, hb.tree_size, ha.root_hash, hb.root_hash, b64d(doc["proof"])
        )


def test_a_party_without_access_cannot_register_keys_for_another(
    srv: Server, parties: dict[str, Party]
) -> None:
    """The witness path rests on key registration being the party's own."""
    raw = base64.b64encode(SigningKey.generate().public_key.to_raw()).decode()
    r = parties["RU-FORCES"].post("/v1/parties/US-CJTF/keys", json={"public_key": raw})
    assert r.status_code in (httpx.codes.FORBIDDEN, httpx.codes.NOT_FOUND), r.text
