"""Benchmark of the record (issue 4, "Speed").

Goals: appends at least 20,000 entries per second sustained into the SQLite store with a
checkpoint signed every second; an inclusion proof for any entry of a 10-million-entry log
under 1 ms median; verifying a whole 1-million-entry export under 10 s.

Tables:
(1) appends: `service.record.append` inside `Service.write()` (the path every use case
    takes), N entries in transactions of 100 and of 1,000 while a `Checkpointer` signs a
    checkpoint every second; entry shapes: a clearance transition (5 public fields and a
    committed reason, as `declaration.state` writes), a declaration (its GeoJSON
    feature, 20 waypoints, committed as a dict to encode), the same declaration as
    `service/declarations.py` appends it (`declaration-stored`: the stored feature's bytes
    and the clearance summary) and a disclosure of its portion to a notified party (the
    feature as `declaration_to_feature` writes it); `--shapes` picks some, `--entries`
    sets N. Baselines in the same run: the pure in-memory
    `MerkleTree` appending the same entry bytes, and raw sqlite3 `executemany` inserting
    the same rows (entries, subtree hashes, contents) in transactions of the same size;
(2) proofs: a log of N entries built in bulk (entries formatted as `build_entry` writes
    them, checked against it, leaf and subtree hashes from an in-memory `MerkleTree`,
    inserted with executemany in transactions of 500,000 rows), then the median time of
    `service.record.inclusion` (read transaction, entry, proof and root, what the API and
    `deconflict log proof` call) and of the proof alone, for random entries against the
    whole tree; each proof is checked with `verify_inclusion`. The store file is read
    once first (a service with the RAM for it has it in the OS page cache) and 2,000
    other random proofs warm SQLite. Baseline: the same proof from the in-memory tree;
(3) verification: `deconflict log export` of that log, then `audit()` of entries.jsonl
    against its signed checkpoints (what `deconflict log verify FOLDER` does, timed in
    process and as the command), beside a baseline that only hashes every line and
    computes the root; and `audit_store` over the store itself (stored hashes and
    contents checked too).

Run: `.venv/bin/python bench/record.py` (sizes 1M and 10M for proofs, about 10 minutes
and 6 GB of disk in a temporary folder) or `--quick` (100k and 1M).
`--keep DIR` keeps the bulk stores in DIR and reuses them on the next run.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from deconflict.record import (
    MerkleTree,
    NoteSigner,
    SigningKey,
    inclusion_proof_from,
    leaf_hash,
    make_checkpoint,
    root_from_leaf_hashes,
    sign_checkpoint,
    verify_inclusion,
)
from deconflict.record.audit import audit
from deconflict.record.entries import build_entry, format_at
from deconflict.record.tree import MemoryNodeStore
from deconflict.service import Service, record
from deconflict.store.database import Database
from deconflict.store.log import LogReader, cluster, is_stored

ORIGIN = "bench.deconflict/record"
# A fixed key, so that stores kept with --keep still verify on the next run (a bench key).
SIGNER = NoteSigner(ORIGIN, SigningKey.from_raw(hashlib.sha256(b"bench/record.py").digest()))
T0 = 1.79e9


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


# -- entry shapes ------------------------------------------------------------------------


def transition(i: int) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    data = {"party": "US-CJTF", "id": f"plan-{i}", "version": 2, "from": "pending", "to": "cleared"}
    return "declaration.state", "RU-FORCES", data, {"reason": "acknowledged, no objection"}


def declaration(i: int) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    rng = random.Random(i)
    lon, lat = 41.0 + rng.random(), 36.5 + rng.random()
    coords = []
    for k in range(20):
        lon += rng.uniform(-0.02, 0.03)
        lat += rng.uniform(-0.02, 0.03)
        coords.append(
            [round(lon, 6), round(lat, 6), f"2026-11-24T{6 + k // 4:02d}:{k % 4 * 15:02d}:00Z"]
        )
    feature = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [c[:2] for c in coords]},
        "properties": {
            "id": f"move-{i}",
            "party": "US-CJTF",
            "kind": "movement",
            "times": [c[2] for c in coords],
            "speed_kmh": 42.5,
            "unit": "3/2 ACR",
        },
    }
    data = {"party": "US-CJTF", "id": f"move-{i}", "version": 1, "kind": "movement"}
    return "declaration", "US-CJTF", data, {"feature": feature}


def declaration_stored(i: int) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """A declaration as `service/declarations.py` appends it: the feature committed as the
    stored feature's bytes (sealed, they are a string in the sealed content), not as a
    dict to encode; the clearance summary beside it."""
    type_, by, data, private = declaration(i)
    feature = json.dumps(private["feature"], separators=(",", ":")).encode()
    clearance = {"notified": ["RU-FORCES"], "conflicts": 1, "plan_start": None, "plan_end": None}
    return type_, by, data, {"feature": feature, "clearance": clearance}


def disclosure(i: int) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """A disclosure of a declaration's portion to a notified party: the portion's feature
    as `export.geojson.declaration_to_feature` writes it (altitudes and buffer integral
    floats, times to the microsecond), committed."""
    _, _, data, private = declaration(i)
    feature = private["feature"]
    props = {
        "id": data["id"],
        "party": "US-CJTF",
        "kind": "movement",
        "alt_min_m": 0.0,
        "alt_max_m": 150.0,
        "buffer_m": 500.0,
        "times": [t.replace("Z", ".000000Z") for t in feature["properties"]["times"]],
        "time_uncertainty_s": 60.0,
    }
    portion = {"type": "Feature", "properties": props, "geometry": feature["geometry"]}
    ref = {**{k: data[k] for k in ("party", "id", "version")}, "from": "US-CJTF"}
    return (
        "disclosure",
        "@service",
        {**ref, "to": "RU-FORCES", "access": "portion"},
        {"portion": [portion]},
    )


SHAPES = {
    "transition": transition,
    "declaration": declaration,
    "declaration-stored": declaration_stored,
    "disclosure": disclosure,
}


# -- (1) appends ---------------------------------------------------------------------------


def bench_appends(
    folder: Path, n: int, batch: int, shape: str
) -> tuple[dict[str, float], list[bytes]]:
    path = folder / f"append-{shape}-{batch}.sqlite"
    svc = Service(Database(str(path)), log_signer=SIGNER)
    make = SHAPES[shape]
    items = [make(i) for i in range(n)]
    worker = record.Checkpointer(svc, SIGNER, 1.0)
    worker.start()
    tx_times = []
    try:
        start = time.perf_counter()
        for b in range(0, n, batch):
            t = time.perf_counter()
            with svc.write() as repo:
                at = svc.now()
                for type_, by, data, private in items[b : b + batch]:
                    record.append(repo, at, type_, by, data, private)
            tx_times.append(time.perf_counter() - t)
        total = time.perf_counter() - start
    finally:
        worker.stop()
    with svc.read() as repo:
        reader = LogReader(repo.conn)
        size, heads = reader.size(), reader.checkpoints()
        raws = [e.entry for e in reader.entries(0, min(n, 20_000))]
        kept = [c.content for i in range(0, len(raws), 100) for c in reader.contents(i)]
    svc.close()
    assert size == n, size
    return (
        {
            "n": n,
            "batch": batch,
            "total_s": total,
            "per_s": n / total,
            "tx_ms": 1e3 * statistics.median(tx_times),
            "checkpoints": len(heads),
            "entry_bytes": sum(map(len, raws)) / len(raws),
            "content_bytes": sum(map(len, kept)) / len(kept),
        },
        raws,
        kept,
    )


class MemoryLog:
    """`repo.log` for `record.append` without a store: entries built (canonical JSON,
    commitments) and appended to an in-memory tree."""

    def __init__(self) -> None:
        self.tree = MerkleTree()
        self.prev: bytes | None = None

    def append(self, at_s: float, type_: str, by: str, *rest: Any) -> int:
        raw, _ = build_entry(self.tree.size, self.prev, at_s, type_, by, *rest)
        index = self.tree.append(raw)
        self.prev = self.tree.leaf_hash(index)
        return index


def baseline_memory(n: int, shape: str) -> float:
    """Entries per second built as `record.append` builds them (a sealed entry for these
    types) and appended to the pure in-memory tree: the same work, without the store."""
    make = SHAPES[shape]
    items = [make(i) for i in range(min(n, 50_000))]
    repo: Any = SimpleNamespace(log=MemoryLog())
    start = time.perf_counter()
    for type_, by, data, private in items:
        record.append(repo, T0, type_, by, data, private)
    return len(items) / (time.perf_counter() - start)


def baseline_tree(raws: list[bytes], n: int) -> float:
    """Entries per second appended to the pure in-memory tree (hashing only)."""
    tree = MerkleTree()
    reps = max(1, n // len(raws))
    start = time.perf_counter()
    for _ in range(reps):
        for raw in raws:
            tree.append(raw)
    return reps * len(raws) / (time.perf_counter() - start)


def baseline_sqlite(
    folder: Path, raws: list[bytes], kept: list[bytes], n: int, batch: int, shape: str
) -> float:
    """Entries per second inserted with raw sqlite3 executemany, the same rows the store
    writes (entry, ~1.25 subtree hashes: the leaf and levels 3 and up, one content), same
    pragmas and batch."""
    path = folder / f"raw-{shape}-{batch}.sqlite"
    Database(str(path)).close()  # the same schema and indexes
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    salt = b"s" * 32
    start = time.perf_counter()
    i = 0
    while i < n:
        entries, nodes, contents = [], [], []
        for _ in range(min(batch, n - i)):
            raw = raws[i % len(raws)]
            entries.append((i, T0, "t", "A", raw))
            contents.append((i, "c", salt, kept[i % len(kept)]))
            i += 1
        first = i - len(entries)
        level = 0
        while i >> level:  # the subtrees these leaves complete, as the store writes them
            if is_stored(level):
                nodes += [
                    (cluster(level, k), level, k, b"h" * 32)
                    for k in range(first >> level, i >> level)
                ]
            level += 1
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO log_entries VALUES (?, ?, ?, ?, ?)", entries)
        conn.executemany("INSERT INTO log_nodes VALUES (?, ?, ?, ?)", nodes)
        conn.executemany("INSERT INTO log_contents VALUES (?, ?, ?, ?)", contents)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


def print_appends(folder: Path, n: int, shapes: list[str] | None = None) -> None:
    print(f"\n## Appends into the SQLite store, a checkpoint every second ({load()})\n")
    print(
        "| entry | entry + content bytes | entries | per transaction | s | entries/s "
        "| median tx ms | checkpoints | baseline: built + hashed in memory /s "
        "| baseline: tree only /s | baseline: raw sqlite3 rows /s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for shape in shapes or SHAPES:
        memory = baseline_memory(n, shape)
        for batch in (100, 1000):
            r, raws, kept = bench_appends(folder, n, batch, shape)
            tree = baseline_tree(raws, n)
            raw = baseline_sqlite(folder, raws, kept, n, batch, shape)
            print(
                f"| {shape} | {r['entry_bytes']:.0f} + {r['content_bytes']:.0f} | {n:,} "
                f"| {batch:,} | {r['total_s']:.1f} | **{r['per_s']:,.0f}** | {r['tx_ms']:.1f} "
                f"| {r['checkpoints']} | {memory:,.0f} | {tree:,.0f} | {raw:,.0f} |",
                flush=True,
            )


# -- (2) a big log, built in bulk ------------------------------------------------------------

TEMPLATE = (
    '{"at":"%s","by":"RU-FORCES","commit":{},"data":{"from":"pending","id":"plan-%d",'
    '"party":"US-CJTF","to":"cleared","version":2},"index":%d,"prev":"%s",'
    '"type":"declaration.state","v":1}'
)


def bulk_entry(i: int, prev: bytes | None) -> bytes:
    at_s = T0 + i // 1000
    return (TEMPLATE % (format_at(at_s), i, i, "" if prev is None else prev.hex())).encode()


def build_log(path: Path, n: int, chunk: int = 500_000) -> tuple[MerkleTree, float]:
    """A store of n entries, written directly; the in-memory tree is kept as baseline."""
    # The template is the layout build_entry writes, byte for byte.
    prev = None
    for i in range(3):
        raw = bulk_entry(i, prev)
        ref, _ = build_entry(
            i, prev, T0 + i // 1000, "declaration.state", "RU-FORCES", transition(i)[2]
        )
        assert raw == ref, (raw, ref)
        prev = leaf_hash(raw)
    start = time.perf_counter()
    Database(str(path)).close()
    nodes = MemoryNodeStore()
    tree = MerkleTree(nodes)
    flushed: list[int] = []  # per level, how many nodes are in the store
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    prev = None
    for base in range(0, n, chunk):
        rows = []
        for i in range(base, min(n, base + chunk)):
            raw = bulk_entry(i, prev)
            prev = leaf_hash(raw)
            tree.append_leaf_hash(prev)
            rows.append((i, T0 + i // 1000, "declaration.state", "RU-FORCES", raw))
        levels = nodes._levels
        node_rows = []
        for level, row in enumerate(levels):
            if len(flushed) <= level:
                flushed.append(0)
            if is_stored(level):  # as the store writes them: not levels 1 and 2
                node_rows += [
                    (cluster(level, k), level, k, row[k]) for k in range(flushed[level], len(row))
                ]
            flushed[level] = len(row)
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO log_entries VALUES (?, ?, ?, ?, ?)", rows)
        node_rows.sort()  # in key order, as the store's appends write them
        conn.executemany("INSERT INTO log_nodes VALUES (?, ?, ?, ?)", node_rows)
        conn.execute("COMMIT")
    for size in sorted({n // 2, n}):  # two signed checkpoints
        note = sign_checkpoint(make_checkpoint(ORIGIN, size, tree.root(size)), SIGNER)
        conn.execute(
            "INSERT INTO checkpoints (tree_size, at_s, note) VALUES (?, ?, ?)", (size, T0, note)
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return tree, time.perf_counter() - start


def open_log(path: Path, n: int) -> tuple[MerkleTree, float]:
    """The bulk store at `path`, built unless a complete one is there (--keep)."""
    if path.exists():
        with closing(sqlite3.connect(path)) as conn:
            rows = conn.execute(
                "SELECT count(*) FROM checkpoints WHERE tree_size = ?", (n,)
            ).fetchone()
        if rows and rows[0]:
            tree = MerkleTree()  # rebuilt in memory for the baseline
            prev = None
            for i in range(n):
                prev = leaf_hash(bulk_entry(i, prev))
                tree.append_leaf_hash(prev)
            return tree, float("nan")
        path.unlink()
    return build_log(path, n)


def evict(path: Path) -> None:
    """Drop the store's pages from the OS page cache (posix_fadvise, no root needed):
    the next reads go to the disk, as in a service started on a machine that has not
    read the file since boot (or has no RAM to spare for it)."""
    for p in (path, Path(f"{path}-wal")):
        if p.exists():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def bench_proofs(path: Path, tree: MerkleTree, n: int, samples: int) -> dict[str, float]:
    rng = random.Random(7)
    cold, warm, indices, others = ([rng.randrange(n) for _ in range(samples)] for _ in range(4))
    root = tree.root()
    cold_t, service_t, proof_t, memory_t = [], [], [], []
    evict(path)
    svc = Service(Database(str(path)), log_signer=SIGNER)
    try:
        # Cold: the first proofs of a service whose store is in no cache at all (each
        # reads ~30 subtree hashes, the upper ones soon cached, the lower ones from disk).
        for i in cold:
            t = time.perf_counter()
            record.inclusion(svc, i, n)
            cold_t.append(time.perf_counter() - t)
        # A running service with the RAM for it has its store in the OS page cache: read
        # the file once, then warm SQLite with other entries than those timed (each timed
        # set is its own random sample).
        with path.open("rb") as f:
            while f.read(1 << 24):
                pass
        for i in warm:
            record.inclusion(svc, i, n)
        for i in indices:
            t = time.perf_counter()
            doc = record.inclusion(svc, i, n)
            service_t.append(time.perf_counter() - t)
            verify_inclusion(
                leaf_hash(doc["entry"].encode()),
                i,
                n,
                [base64.b64decode(h) for h in doc["proof"]],
                root,
            )
        with svc.read() as repo:
            reader = LogReader(repo.conn)
            for i in others:
                t = time.perf_counter()
                proof = inclusion_proof_from(reader.nodes, i, n)
                proof_t.append(time.perf_counter() - t)
                verify_inclusion(tree.leaf_hash(i), i, n, proof, root)
        for i in indices:
            t = time.perf_counter()
            tree.inclusion_proof(i, n)
            memory_t.append(time.perf_counter() - t)
    finally:
        svc.close()
    return {
        "cold_ms": 1e3 * statistics.median(cold_t),
        "cold_p99_ms": 1e3 * sorted(cold_t)[int(0.99 * len(cold_t))],
        "service_ms": 1e3 * statistics.median(service_t),
        "service_p99_ms": 1e3 * sorted(service_t)[int(0.99 * len(service_t))],
        "proof_ms": 1e3 * statistics.median(proof_t),
        "memory_ms": 1e3 * statistics.median(memory_t),
    }


# -- (3) verification --------------------------------------------------------------------------


def bench_verify(folder: Path, path: Path, n: int) -> dict[str, float]:
    out = folder / f"export-{n}"
    t = time.perf_counter()
    cmd = [sys.executable, "-m", "deconflict", "log"]
    key = folder / f"{path.name}.pub"
    key.write_text(str(SIGNER.verifier) + "\n")
    secret = Path(str(path) + ".log-key")
    secret.write_text(SIGNER.secret_string() + "\n")
    subprocess.run(
        [*cmd, "export", "--db", str(path), "--out", str(out)], check=True, capture_output=True
    )
    export_s = time.perf_counter() - t
    lines_path = out / "entries.jsonl"
    notes = [json.loads(x)["note"] for x in (out / "checkpoints.jsonl").read_text().splitlines()]

    t = time.perf_counter()
    with lines_path.open("rb") as f:
        leaves = [leaf_hash(line.rstrip(b"\n")) for line in f]
    root = root_from_leaf_hashes(leaves)
    hash_s = time.perf_counter() - t
    assert root == stored_root(path, n)
    del leaves

    t = time.perf_counter()
    with lines_path.open("rb") as f:
        report = audit((line.rstrip(b"\n") for line in f), notes, SIGNER.verifier)
    audit_s = time.perf_counter() - t
    assert report.ok and report.size == n and report.checkpoints == 2, report.findings[:3]

    t = time.perf_counter()
    proc = subprocess.run([*cmd, "verify", str(out)], capture_output=True, text=True)
    command_s = time.perf_counter() - t
    assert proc.returncode == 0, proc.stdout + proc.stderr

    svc = Service(Database(str(path)))
    t = time.perf_counter()
    stored = record.audit_store(svc, SIGNER.verifier)
    store_s = time.perf_counter() - t
    svc.close()
    assert stored.ok, stored.findings[:3]
    return {
        "n": n,
        "mb": lines_path.stat().st_size / 2**20,
        "export_s": export_s,
        "audit_s": audit_s,
        "command_s": command_s,
        "hash_s": hash_s,
        "store_s": store_s,
    }


def stored_root(path: Path, n: int) -> bytes:
    svc = Service(Database(str(path)))
    with svc.read() as repo:
        root = LogReader(repo.conn).root(n)
    svc.close()
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    ap.add_argument("--only", choices=["appends", "proofs", "verify"], help="one section")
    ap.add_argument("--keep", type=Path, help="keep (and reuse) the bulk stores here")
    ap.add_argument("--shapes", help="appends: these entry shapes only (comma-separated)")
    ap.add_argument("--entries", type=int, help="appends: entries per run")
    args = ap.parse_args()
    print("# deconflict record benchmark")
    print(
        f"# python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}, cores: "
        f"{os.cpu_count()}, {load()}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-record-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if args.only in (None, "appends"):
            shapes = args.shapes.split(",") if args.shapes else None
            n = args.entries or (20_000 if args.quick else 200_000)
            print_appends(folder, n, shapes)
        sizes = [100_000, 1_000_000] if args.quick else [1_000_000, 10_000_000]
        if args.only in (None, "proofs", "verify"):
            print(f"\n## Inclusion proofs ({load()})\n")
            print(
                "| entries | build s | store GB | cold: service call median ms | cold p99 ms "
                "| warm: service call median ms | warm p99 ms | proof alone median ms "
                "| in-memory tree median ms | load |"
            )
            print("|---|---|---|---|---|---|---|---|---|---|")
            built: dict[int, Path] = {}
            for n in sizes:
                path = folder / f"log-{n}.sqlite"
                tree, build_s = open_log(path, n)
                built[n] = path
                if args.only == "verify":
                    continue
                r = bench_proofs(path, tree, n, 500 if args.quick else 2000)
                gb = path.stat().st_size / 2**30
                print(
                    f"| {n:,} | {build_s:.0f} | {gb:.2f} | **{r['cold_ms']:.3f}** "
                    f"| {r['cold_p99_ms']:.3f} | **{r['service_ms']:.3f}** "
                    f"| {r['service_p99_ms']:.3f} | {r['proof_ms']:.3f} "
                    f"| {r['memory_ms']:.3f} | {load()} |",
                    flush=True,
                )
                del tree
            if args.only in (None, "verify"):
                n = 1_000_000
                r = bench_verify(folder, built[n], n)
                print(f"\n## Verifying an export ({load()})\n")
                print(
                    "| entries | entries.jsonl MB | export s | audit s (in process) "
                    "| `deconflict log verify` s | hash-and-root baseline s "
                    "| audit_store s (the store) |"
                )
                print("|---|---|---|---|---|---|---|")
                print(
                    f"| {n:,} | {r['mb']:.0f} | {r['export_s']:.1f} | **{r['audit_s']:.1f}** "
                    f"| {r['command_s']:.1f} | {r['hash_s']:.1f} | {r['store_s']:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
