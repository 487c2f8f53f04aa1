"""Benchmark of the strategic engine (issue: strategic engine, "Speed").

Prints tables: (1) one new 50-waypoint movement checked against an index of 100,000
movements of 20 segments (400 x 400 km, 7 days), against a brute-force numpy baseline
that box-tests every stored segment; (2) all conflicts for 1k..100k movements, at fixed
theatre and at constant density, against an O(n^2) baseline where it is affordable;
(3) memory of the 100k index; (4) 50,000 declarations added one at a time against a bulk
load. Run: `make bench` or `.venv/bin/python bench/engine.py` (`--only incremental`).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from deconflict.engine import Engine  # noqa: E402
from deconflict.engine.pairs import Side, refine  # noqa: E402
from deconflict.engine.segments import build_segments  # noqa: E402
from deconflict.model import Policy  # noqa: E402
from synthetic import movements  # noqa: E402

POLICY = Policy()


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def brute_force_query(eng: Engine, m) -> int:  # type: ignore[no-untyped-def]
    """Baseline: every query segment box-tested against every stored segment (numpy,
    vectorised over the stored ones), then the same exact refinement."""
    seg = build_segments([m])
    lo, hi = seg.boxes(np.full(len(seg), POLICY.horizontal_m / 2), np.zeros(len(seg)))
    slo, shi = eng._store.col("lo"), eng._store.col("hi")
    slot = eng._store.slots
    party = eng._party.view[slot]
    me = eng._parties.get(m.party, -1)
    qs, cs = [], []
    for i in range(len(seg)):
        hit = np.flatnonzero(np.all((slo <= hi[i]) & (shi >= lo[i]), axis=1) & (party != me))
        qs.append(np.full(hit.size, i))
        cs.append(hit)
    q = np.concatenate(qs)
    c = np.concatenate(cs)
    side_a = Side(seg.p0[q], seg.p1[q], seg.t[q], seg.ll[q], np.zeros(q.size))
    res = refine(side_a, eng._store.side(c, np.zeros(c.size)), np.full(q.size, POLICY.horizontal_m))
    return len({int(slot[c[k]]) for k in res.index})


def bench_query(n: int, queries: int, baseline_queries: int) -> dict[str, float]:
    decls = movements(n, seed=1)
    gc.collect()
    before = rss_mb()
    t = time.perf_counter()
    eng = Engine(POLICY)
    eng.add_many(decls)
    build_s = time.perf_counter() - t
    index_mb = rss_mb() - before
    probes = movements(queries, seed=99, segments=49, parties=1, prefix="q")
    for p in probes:  # Party "P0" exists in the index: make the probe another party.
        object.__setattr__(p, "party", "PROBE")
    times, found = [], []
    for p in probes:
        t = time.perf_counter()
        cs = eng.conflicts_of(p)
        times.append(time.perf_counter() - t)
        found.append(len({c.a if c.party_a != "PROBE" else c.b for c in cs}))
    base_times, base_found = [], []
    for p in probes[:baseline_queries]:
        t = time.perf_counter()
        base_found.append(brute_force_query(eng, p))
        base_times.append(time.perf_counter() - t)
    assert found[:baseline_queries] == base_found, (found, base_found)
    return {
        "n": n,
        "segments": eng._store.rows,
        "build_s": build_s,
        "index_mb": index_mb,
        "query_ms": 1e3 * statistics.median(times),
        "query_p90_ms": 1e3 * float(np.quantile(times, 0.9)),
        "base_ms": 1e3 * statistics.median(base_times),
        "conflicts": statistics.mean(found),
    }


def bench_all(n: int, side_km: float) -> dict[str, float]:
    decls = movements(n, seed=2, side_km=side_km)
    t = time.perf_counter()
    eng = Engine(POLICY)
    eng.add_many(decls)
    build = time.perf_counter() - t
    t = time.perf_counter()
    cs = eng.all_conflicts()
    return {
        "n": n,
        "side_km": side_km,
        "build_s": build,
        "all_s": time.perf_counter() - t,
        "conflicts": len(cs),
    }


def brute_all(n: int, side_km: float) -> float:
    """Baseline: every segment box-tested against every other (numpy rows), then refined."""
    decls = movements(n, seed=2, side_km=side_km)
    eng = Engine(POLICY)
    eng.add_many(decls)
    t = time.perf_counter()
    lo, hi = eng._store.col("lo"), eng._store.col("hi")
    slot = eng._store.slots
    party = eng._party.view[slot]
    found = 0
    for i in range(lo.shape[0]):
        j = (
            i
            + 1
            + np.flatnonzero(
                np.all((lo[i + 1 :] <= hi[i]) & (hi[i + 1 :] >= lo[i]), axis=1)
                & (party[i + 1 :] != party[i])
            )
        )
        if j.size:
            ii = np.full(j.size, i)
            found += refine(
                eng._store.side(ii, np.zeros(j.size)),
                eng._store.side(j, np.zeros(j.size)),
                np.full(j.size, POLICY.horizontal_m),
            ).index.size
    return time.perf_counter() - t


def bench_incremental(n: int) -> dict[str, float]:
    """The service's path: declarations added one at a time from an empty index, beside a
    bulk load of the same set (the baseline), and a query against each."""
    decls = movements(n, seed=3)
    eng = Engine(POLICY)
    adds = []
    for d in decls:
        t = time.perf_counter()
        eng.add(d)
        adds.append(time.perf_counter() - t)
    t = time.perf_counter()
    bulk = Engine(POLICY)
    bulk.add_many(decls)
    bulk_s = time.perf_counter() - t
    probes = movements(20, seed=99, segments=49, parties=1, prefix="q")
    for p in probes:
        object.__setattr__(p, "party", "PROBE")
    q_inc, q_bulk = [], []
    for p in probes:
        t = time.perf_counter()
        a = eng.conflicts_of(p)
        q_inc.append(time.perf_counter() - t)
        t = time.perf_counter()
        b = bulk.conflicts_of(p)
        q_bulk.append(time.perf_counter() - t)
        assert [(c.a, c.b) for c in a] == [(c.a, c.b) for c in b]
    return {
        "n": n,
        "add_us": 1e6 * statistics.median(adds),
        "add_p99_us": 1e6 * float(np.quantile(adds, 0.99)),
        "total_s": sum(adds),
        "bulk_s": bulk_s,
        "q_inc_ms": 1e3 * statistics.median(q_inc),
        "q_bulk_ms": 1e3 * statistics.median(q_bulk),
    }


def print_incremental(n: int) -> None:
    r = bench_incremental(n)
    print("\n## Adding declarations one at a time (the service path)\n")
    print(
        "| movements | add median us | add p99 us | total s | bulk load s (baseline) "
        "| query ms, incremental | query ms, bulk |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {r['n']:,} | {r['add_us']:.0f} | {r['add_p99_us']:.0f} | {r['total_s']:.1f} "
        f"| {r['bulk_s']:.1f} | {r['q_inc_ms']:.2f} | {r['q_bulk_ms']:.2f} |",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    ap.add_argument("--only", choices=["incremental"], help="run one section only")
    args = ap.parse_args()
    if args.only == "incremental":
        print_incremental(10_000 if args.quick else 50_000)
        return
    big = 10_000 if args.quick else 100_000
    print("# deconflict strategic engine benchmark")
    print(f"# numpy {np.__version__}, python {sys.version.split()[0]}, cores: 2\n")

    r = bench_query(big, queries=40 if not args.quick else 10, baseline_queries=5)
    print("## One new 50-waypoint movement against the index (400 x 400 km, 7 days)\n")
    print(
        "| movements | segments | build s | index RSS MB | query median ms | query p90 ms "
        "| brute-force median ms | speed-up | conflicting decls/query |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {r['n']:,} | {r['segments']:,} | {r['build_s']:.1f} | {r['index_mb']:.0f} "
        f"| {r['query_ms']:.2f} | {r['query_p90_ms']:.2f} | {r['base_ms']:.0f} "
        f"| {r['base_ms'] / r['query_ms']:.0f}x | {r['conflicts']:.1f} |"
    )

    print("\n## All conflicts among n movements\n")
    print(
        "| n | theatre km | build s | all_conflicts s | conflicts | s per 1k movements "
        "| brute-force O(n^2) s |"
    )
    print("|---|---|---|---|---|---|---|")
    sizes = [1_000, 3_000, 10_000] if args.quick else [1_000, 3_000, 10_000, 30_000, 100_000]
    for density in ("fixed", "constant"):
        for n in sizes:
            side = 400.0 if density == "fixed" else 400.0 * (n / 10_000) ** 0.5
            res = bench_all(n, side)
            base = f"{brute_all(n, side):.1f}" if n <= 1_000 else "-"
            print(
                f"| {n:,} | {side:.0f} ({density}) | {res['build_s']:.1f} | {res['all_s']:.2f} "
                f"| {res['conflicts']:,} | {1e3 * res['all_s'] / n:.2f} | {base} |",
                flush=True,
            )
    print_incremental(10_000 if args.quick else 50_000)


if __name__ == "__main__":
    main()
