"""The strategic check through PostGIS against the in-memory engine (issue 7, "Speed").

Both hold the same n synthetic movements (bench/synthetic.py: 20 legs each, 400 x 400 km,
7 days) and answer, for each of a sample of new 50-waypoint movements of another party
(the probes), which stored movements it may conflict with.

- The engine (`deconflict.engine.Engine.conflicts_of`) answers exactly: its grid of
  (x, y, z, t) boxes picks candidate segment pairs, then the closest approach in time of
  each pair is computed on the geodesics (SPEC 3). Its answer is the conflicts.
- PostGIS answers as a pre-filter only: one row per leg (a geography LINESTRING, whose edge
  PostGIS takes as the great-circle arc, and a tstzrange of the leg's times widened by the
  time uncertainty), a multicolumn GiST index on (leg, time range), and a query that keeps
  the stored legs within H + both buffers (+ a slack for sphere against ellipsoid) of some
  probe leg whose time range overlaps. Whether the two units are near one another at the
  same moment is not asked: its answer is candidates, which the exact computation would
  still have to refine (fetching those legs and running the engine's closest approach).

The run checks that PostGIS's candidates hold every conflict the engine finds for every
probe (the pre-filter loses nothing) and prints the sizes of both answers. Used by
bench/scale.py; run alone: `.venv/bin/python bench/postgis.py [--movements N] [--probes K]`.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from deconflict.engine import Engine  # noqa: E402
from deconflict.model import Movement, Policy  # noqa: E402
from synthetic import movements  # noqa: E402

POLICY = Policy()
PG = "postgresql://postgres@127.0.0.1:5432"
SLACK_M = 10.0
"""Added to the search distance, with SLACK_RATIO: PostGIS measures on a sphere here
(use_spheroid false, several times cheaper), the engine on the ellipsoid; a pre-filter may
keep too much, never too little."""
SLACK_RATIO = 0.005

QUERY = """
SELECT DISTINCT s.mid
FROM unnest(%(leg)s::text[], %(t0)s::float8[], %(t1)s::float8[]) AS q(wkb, t0, t1)
JOIN leg s
  ON ST_DWithin(s.g, q.wkb::geography, %(reach)s, false)
 AND s.tr && tstzrange(to_timestamp(q.t0), to_timestamp(q.t1), '[]')
WHERE s.party <> %(party)s
"""
"""One probe: each of its legs against the index (GiST on (g, tr): the box of the leg
widened by `reach` and the time range overlap are both index conditions; ST_DWithin then
measures the distance between the two arcs)."""


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def postgis_missing(base: str = PG) -> str | None:
    """Why the PostGIS part cannot run (no server, no extension), or None."""
    try:
        import psycopg

        with psycopg.connect(base + "/postgres", connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'"
            ).fetchone()
    except Exception as exc:  # any driver or connection error: say it, skip
        return f"PostgreSQL not reachable at {base} ({type(exc).__name__})"
    if not row or not row[0]:
        return (
            "PostGIS is not installed on the server (Debian: apt-get install -y "
            "postgresql-15-postgis-3)"
        )
    return None


@dataclass
class PostgisResult:
    movements: int
    legs: int
    probes: int
    probe_legs: int
    engine_build_s: float
    engine_mb: float
    engine_ms: list[float]
    engine_found: list[int]
    """Stored movements in conflict with each probe (the engine's exact answer)."""
    load_s: float
    """Legs made into rows (Python) and COPYed in."""
    index_s: float
    """CREATE INDEX (GiST) and ANALYZE."""
    table_mb: float
    index_mb: float
    postgis_ms: list[float]
    postgis_found: list[int]
    """Stored movements the pre-filter keeps for each probe."""
    missed: list[tuple[int, list[str]]] = field(default_factory=list)
    """(probe, engine conflicts PostGIS did not keep): must be empty."""
    load: tuple[float, float] = (0.0, 0.0)


def _legs(decls: list[Movement], first: int = 0) -> tuple[Any, ...]:
    """Legs of equal-length movements as arrays: owner index, hex WKB, start, end."""
    import shapely

    pos = np.array([m.positions for m in decls])  # (n, k, 2) lon, lat
    times = np.array([m.times_s for m in decls])
    n, k, _ = pos.shape
    ends = np.stack([pos[:, :-1], pos[:, 1:]], axis=2).reshape(-1, 2, 2)
    wkb = shapely.to_wkb(shapely.linestrings(ends), hex=True)
    owner = np.repeat(np.arange(first, first + n), k - 1)
    return owner, wkb, times[:, :-1].ravel(), times[:, 1:].ravel()


def _stamps(t: np.ndarray[Any, Any], up: bool) -> np.ndarray[Any, Any]:
    """ISO UTC times to the millisecond, rounded outwards (a pre-filter keeps more)."""
    ms = np.ceil(t * 1e3) if up else np.floor(t * 1e3)
    return np.char.add(np.datetime_as_string(ms.astype("int64").astype("datetime64[ms]")), "Z")


def load_legs(conn: Any, decls: list[Movement], uncertainty_s: float) -> int:
    conn.execute(
        "CREATE TABLE leg (mid integer NOT NULL, party smallint NOT NULL, "
        "g geography(LineString, 4326) NOT NULL, tr tstzrange NOT NULL)"
    )
    parties = {p: i for i, p in enumerate(sorted({m.party for m in decls}))}
    rows = 0
    chunk = 20_000
    with conn.cursor().copy("COPY leg (mid, party, g, tr) FROM STDIN") as copy:
        for lo in range(0, len(decls), chunk):
            part = decls[lo : lo + chunk]
            owner, wkb, t0, t1 = _legs(part, lo)
            party = np.repeat([parties[m.party] for m in part], len(part[0].positions) - 1)
            a = _stamps(t0 - uncertainty_s, up=False)
            b = _stamps(t1 + uncertainty_s, up=True)
            text = "".join(
                f"{o}\t{p}\t{w}\t[{x},{y}]\n"
                for o, p, w, x, y in zip(
                    owner.tolist(),
                    party.tolist(),
                    wkb.tolist(),
                    a.tolist(),
                    b.tolist(),
                    strict=True,
                )
            )
            copy.write(text)
            rows += len(owner)
    return rows


def run(n: int, probes: int, base: str = PG, log: Any = print) -> PostgisResult:
    """Build both on the same n movements, check `probes` new movements through each."""
    import psycopg

    load_before = os.getloadavg()[0]
    decls = movements(n, seed=1)
    if len({len(m.positions) for m in decls}) != 1:
        raise ValueError("the synthetic movements should all have as many legs")
    uncertainty = max(m.time_uncertainty_s for m in decls)
    buffer_m = max(m.buffer_m for m in decls)
    queries = movements(probes, seed=99, segments=49, parties=1, prefix="q")
    for q in queries:  # "P0" is stored: the probe is another party
        object.__setattr__(q, "party", "PROBE")

    log(f"  engine: indexing {n:,} movements...")
    gc.collect()
    before = rss_mb()
    t = time.perf_counter()
    eng = Engine(POLICY)
    eng.add_many(decls)
    build_s = time.perf_counter() - t
    engine_mb = rss_mb() - before
    engine_ms, engine_sets = [], []
    for q in queries:
        t = time.perf_counter()
        found = eng.conflicts_of(q)
        engine_ms.append(1e3 * (time.perf_counter() - t))
        engine_sets.append({c.a if c.party_a != "PROBE" else c.b for c in found})
    del eng
    gc.collect()

    name = f"dc_bench_postgis_{os.getpid()}"
    with psycopg.connect(base + "/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
    try:
        with psycopg.connect(f"{base}/{name}", autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")
            log(f"  PostGIS: loading the legs of {n:,} movements...")
            t = time.perf_counter()
            legs = load_legs(conn, decls, uncertainty)
            load_s = time.perf_counter() - t
            t = time.perf_counter()
            conn.execute("CREATE INDEX leg_g_tr ON leg USING gist (g, tr)")
            conn.execute("ANALYZE leg")
            index_s = time.perf_counter() - t
            row = conn.execute(
                "SELECT pg_relation_size('leg'), pg_relation_size('leg_g_tr')"
            ).fetchone()
            assert row is not None
            table_mb, index_mb = row[0] / 2**20, row[1] / 2**20
            reach = (POLICY.horizontal_m + 2 * buffer_m) * (1 + SLACK_RATIO) + SLACK_M
            # The probe's party is in no stored row: -1 excludes none, as the engine does.
            args = []
            for q in queries:
                _, wkb, t0, t1 = _legs([q])
                args.append(
                    {
                        "leg": wkb.tolist(),
                        "t0": (t0 - uncertainty).tolist(),
                        "t1": (t1 + uncertainty).tolist(),
                        "reach": reach,
                        "party": -1,
                    }
                )
            for a in args[:5]:  # warm the cache and the plan
                conn.execute(QUERY, a).fetchall()
            pg_ms, pg_sets = [], []
            for a in args:
                t = time.perf_counter()
                rows = conn.execute(QUERY, a).fetchall()
                pg_ms.append(1e3 * (time.perf_counter() - t))
                pg_sets.append({f"m{r[0]}" for r in rows})
    finally:
        with psycopg.connect(base + "/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name}")
    missed = [
        (i, sorted(e - p))
        for i, (e, p) in enumerate(zip(engine_sets, pg_sets, strict=True))
        if e - p
    ]
    return PostgisResult(
        n,
        legs,
        probes,
        len(queries[0].positions) - 1,
        build_s,
        engine_mb,
        engine_ms,
        [len(s) for s in engine_sets],
        load_s,
        index_s,
        table_mb,
        index_mb,
        pg_ms,
        [len(s) for s in pg_sets],
        missed,
        (load_before, os.getloadavg()[0]),
    )


def p99(xs: list[float]) -> float:
    return float(np.percentile(xs, 99))


def report(r: PostgisResult) -> None:
    print(
        f"\n## Strategic check: PostGIS pre-filter against the in-memory engine "
        f"({r.movements:,} movements, {r.legs:,} legs; {r.probes} probes of "
        f"{r.probe_legs} legs)\n"
    )
    e_med, p_med = statistics.median(r.engine_ms), statistics.median(r.postgis_ms)
    print(
        "| | what it answers | build s | memory / disk MB | per probe median ms "
        "| p99 ms | movements per probe (mean) |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| engine (`conflicts_of`) | exact conflicts (closest approach in time) "
        f"| {r.engine_build_s:.1f} (add_many) | {r.engine_mb:.0f} RSS | {e_med:.2f} "
        f"| {p99(r.engine_ms):.2f} | {statistics.mean(r.engine_found):.2f} |"
    )
    print(
        f"| PostGIS (GiST on leg and tstzrange) | candidates only (near in space, overlapping "
        f"in time) | {r.load_s:.1f} load + {r.index_s:.1f} index | {r.table_mb:.0f} table + "
        f"{r.index_mb:.0f} index | {p_med:.2f} | {p99(r.postgis_ms):.2f} "
        f"| {statistics.mean(r.postgis_found):.2f} |"
    )
    print()
    kept = sum(r.engine_found)
    print(
        f"- PostGIS per probe against the engine: {p_med / e_med:.1f}x the median time, and "
        f"it has not yet computed a closest approach (a conflict still needs its candidates' "
        f"legs fetched and refined)"
    )
    if r.missed:
        print(
            f"- correctness: **FAILED**: {len(r.missed)} probes have engine conflicts that "
            f"PostGIS did not keep, e.g. probe {r.missed[0][0]}: {r.missed[0][1][:5]}"
        )
    else:
        print(
            f"- correctness: PostGIS's candidates contain every one of the {kept} conflicts "
            f"the engine found for the {r.probes} probes (each a subset: ok)"
        )
    print(
        f"- load average before/after this part: {r.load[0]:.2f} / {r.load[1]:.2f}",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--movements", type=int, default=100_000)
    ap.add_argument("--probes", type=int, default=200)
    ap.add_argument("--pg", default=PG, help=f"server URL without database ({PG})")
    args = ap.parse_args()
    why = postgis_missing(args.pg)
    if why:
        print(f"PostGIS part skipped: {why}")
        return
    report(run(args.movements, args.probes, args.pg))


if __name__ == "__main__":
    main()
