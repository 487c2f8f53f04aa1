"""Benchmark: what partitioning the monitors by space costs one process (issue 7).

A SQLite store with two force parties; U units (half each party) moving straight in a
theatre of 400 x 400 km around 36N 38E at 2-30 m/s, reporting once a second, 20 % without
a course (their reach is that of the fastest ground unit). Batches of B reports go through
`LiveMonitor.ingest` in process, as the HTTP route calls it (record entry, queue row,
routing, monitor, alerts in one write transaction). Baseline, same run: one partition
(what the service did before partitions). Prints per configuration the median and p90 ms
per batch, the ratio to the baseline, and how many partitions a report is routed to on
average. Run: `.venv/bin/python bench/partitions.py` (`--quick`).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from deconflict.engine.partitions import bits
from deconflict.model.positions import PositionReport
from deconflict.service import Principal, Service
from deconflict.service.auth import OPERATOR_PRINCIPAL as OPERATOR
from deconflict.service.core import Settings
from deconflict.service.live import live
from deconflict.service.parties import add_party
from deconflict.store.database import Database

LAT0, LON0 = 36.0, 38.0
HALF_M = 200_000.0


class Units:
    def __init__(self, n: int, seed: int) -> None:
        rnd = random.Random(seed)
        self.rows = []
        for k in range(n):
            party = "ALPHA" if k % 2 == 0 else "BRAVO"
            e, north = rnd.uniform(-HALF_M, HALF_M), rnd.uniform(-HALF_M, HALF_M)
            speed, course = rnd.uniform(2, 30), rnd.uniform(0, 360)
            self.rows.append((party, f"u{k}", e, north, speed, course, rnd.random() < 0.8))

    def tick(self, t: float) -> dict[str, list[PositionReport]]:
        out: dict[str, list[PositionReport]] = {"ALPHA": [], "BRAVO": []}
        for party, unit, e, north, speed, course, given in self.rows:
            rad = math.radians(course)
            x, y = e + speed * t * math.sin(rad), north + speed * t * math.cos(rad)
            lat = LAT0 + y / 111_000.0
            lon = LON0 + x / (111_000.0 * math.cos(math.radians(LAT0)))
            c = course if given else None
            out[party].append(
                PositionReport(unit, party, T0 + t, lon, lat, None, speed, c, None, "http")
            )
        return out


T0 = time.time() - 3600.0


def run(
    parts: int, cell_deg: float, units: Units, batch: int, seconds: int, folder: Path
) -> dict[str, Any]:
    path = folder / f"p{parts}-{cell_deg}.sqlite"
    settings = Settings(monitor_partitions=parts, monitor_cell_deg=cell_deg)
    clock = [0.0]
    svc = Service(Database(str(path)), settings, clock=lambda: T0 + clock[0])
    try:
        who = {}
        for name in ("ALPHA", "BRAVO"):
            _, token = add_party(svc, OPERATOR, name, "force")
            who[name] = Principal(name, token.token_id)
        monitor = live(svc)
        times: list[float] = []
        routed: list[int] = []
        for s in range(seconds):
            clock[0] = s + 0.5
            for party, reports in units.tick(float(s)).items():
                routed += [len(bits(m)) for m in monitor.parts.routes(reports)]
                for i in range(0, len(reports), batch):
                    t = time.perf_counter()
                    monitor.ingest(who[party], reports[i : i + batch])
                    times.append(1e3 * (time.perf_counter() - t))
        times = times[len(times) // 5 :]  # the first second's batches warm caches
        times.sort()
        return {
            "median": statistics.median(times),
            "p90": times[int(0.9 * (len(times) - 1))],
            "routed": statistics.fmean(routed),
        }
    finally:
        svc.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--units", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args()
    seconds = 4 if args.quick else 10
    units = Units(args.units, seed=7)
    configs = [(1, 2.0), (16, 2.0), (16, 0.5), (62, 2.0)]
    load = os.getloadavg()[0]
    print(f"load average {load:.2f}; {args.units} units, batches of {args.batch}, {seconds} s")
    with tempfile.TemporaryDirectory() as tmp:
        results = [(p, c, run(p, c, units, args.batch, seconds, Path(tmp))) for p, c in configs]
    base = results[0][2]["median"]
    print(
        "| partitions | cell deg | median ms per batch | p90 ms | vs 1 partition"
        " | partitions per report |"
    )
    print("|---|---|---|---|---|---|")
    for p, c, r in results:
        print(
            f"| {p} | {c:g} | {r['median']:.1f} | {r['p90']:.1f} | {r['median'] / base:.2f}"
            f" | {r['routed']:.2f} |"
        )
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
