"""Benchmark of the tactical monitor alone (issue: live tracks, "Speed").

n units (1k, 10k, 100k) in a theatre at constant density (100k in 400 x 400 km, 5 parties,
random straight courses) report once a second. `--mix dense` (default, the harder case):
90 % ground at 0-30 m/s, 10 % air at 50-250 m/s and 100-3000 m. `--mix theatre`: 40 %
ground still or on foot (0-2 m/s), 57 % vehicles (2-30 m/s), 2 % helicopters and drones
(20-80 m/s, 50-1500 m), 1 % fixed wing (100-250 m/s, 500-3000 m).
Each tick is one `Monitor.ingest` of n PositionReport objects (conversion, rules, grid,
CPA, alert book); the same ticks are then given to a second monitor as columns
(`Monitor.ingest_columns`, no report objects), which must end with the same open alerts.
Prints reports/s, per-tick median, growth against 1k, the process RSS, and
a baseline measured in the same run: all-pairs closest approach in numpy (O(n^2), chunked)
for the same tick, where affordable. Run: `.venv/bin/python bench/live.py` (`--quick`).
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import statistics
import time

import numpy as np

from deconflict.engine.monitor import Monitor
from deconflict.model import Policy
from deconflict.model.positions import PositionReport

POLICY = Policy()
T0 = 1_598_342_400.0
LOOK_AHEAD_S = 120.0


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


class Traffic:
    """Units moving straight at constant speed; positions in a local east/north plane."""

    def __init__(self, n: int, seed: int = 1, mix: str = "dense") -> None:
        rng = np.random.default_rng(seed)
        side = 400_000.0 * math.sqrt(n / 100_000)
        self.n = n
        self.x = rng.uniform(0, side, n)
        self.y = rng.uniform(0, side, n)
        if mix == "dense":
            air = rng.random(n) < 0.1
            self.alt = np.where(air, rng.uniform(100, 3000, n), np.nan)
            self.speed = np.where(air, rng.uniform(50, 250, n), rng.uniform(0, 30, n))
        else:
            kind = rng.choice(4, n, p=[0.40, 0.57, 0.02, 0.01])
            lo = np.array([0.0, 2.0, 20.0, 100.0])[kind]
            hi = np.array([2.0, 30.0, 80.0, 250.0])[kind]
            self.speed = rng.uniform(lo, hi)
            alt = np.where(kind == 2, rng.uniform(50, 1500, n), rng.uniform(500, 3000, n))
            self.alt = np.where(kind >= 2, alt, np.nan)
        self.course = rng.uniform(0, 360, n)
        self.party = [f"p{k}" for k in rng.integers(0, 5, n)]
        self.unit = [f"u{k}" for k in range(n)]

    def where(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        c = np.radians(self.course)
        x = self.x + self.speed * np.sin(c) * k
        y = self.y + self.speed * np.cos(c) * k
        lat = 35.0 + y / 111_320.0
        lon = 40.0 + x / (111_320.0 * np.cos(np.radians(lat)))
        return lon, lat

    def columns(self, k: int) -> dict[str, object]:
        """The reports of `tick(k)` as the columns of `Monitor.ingest_columns`."""
        lon, lat = self.where(k)
        return {
            "party": self.party,
            "unit": self.unit,
            "time_s": np.full(self.n, T0 + k),
            "lon": lon,
            "lat": lat,
            "alt_m": self.alt,
            "speed_mps": self.speed,
            "course_deg": self.course,
        }

    def tick(self, k: int) -> list[PositionReport]:
        lon, lat = self.where(k)
        t = T0 + k
        return [
            PositionReport(u, p, t, lo, la, None if math.isnan(a) else a, s, co)
            for u, p, lo, la, a, s, co in zip(
                self.unit,
                self.party,
                lon.tolist(),
                lat.tolist(),
                self.alt.tolist(),
                self.speed.tolist(),
                self.course.tolist(),
                strict=True,
            )
        ]


def all_pairs(traffic: Traffic, k: int) -> int:
    """Baseline: closest approach of every pair over the look-ahead (planar, numpy,
    chunked rows); returns the pairs of different parties within H and V."""
    c = np.radians(traffic.course)
    p = np.stack(
        [traffic.x + traffic.speed * np.sin(c) * k, traffic.y + traffic.speed * np.cos(c) * k],
        axis=1,
    )
    v = np.stack([traffic.speed * np.sin(c), traffic.speed * np.cos(c)], axis=1)
    alt = np.nan_to_num(traffic.alt)
    party = np.array([int(s[1:]) for s in traffic.party])
    found = 0
    step = max(1, 2_000_000 // traffic.n)
    for a in range(0, traffic.n, step):
        d0 = p[a : a + step, None, :] - p[None, :, :]
        dv = v[a : a + step, None, :] - v[None, :, :]
        vv = np.einsum("ijk,ijk->ij", dv, dv)
        tc = np.clip(-np.einsum("ijk,ijk->ij", d0, dv) / np.maximum(vv, 1e-12), 0, LOOK_AHEAD_S)
        dmin = np.linalg.norm(d0 + tc[..., None] * dv, axis=2)
        ok = (dmin < POLICY.horizontal_m) & (party[a : a + step, None] != party[None, :])
        ok &= np.abs(alt[a : a + step, None] - alt[None, :]) < POLICY.vertical_m
        rows = np.arange(a, min(a + step, traffic.n))
        ok &= rows[:, None] < np.arange(traffic.n)[None, :]
        found += int(ok.sum())
    return found


def bench(n: int, ticks: int, baseline: bool, mix: str) -> dict[str, float]:
    traffic = Traffic(n, mix=mix)
    batches = [traffic.tick(k) for k in range(ticks + 1)]
    gc.collect()
    before = rss_mb()
    monitor = Monitor(POLICY, [])
    monitor.ingest(batches[0])  # warm: every unit registered
    times = []
    for k in range(1, ticks + 1):
        t0 = time.perf_counter()
        monitor.ingest(batches[k])  # applies tick k, evaluates tick k-1
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    monitor.flush()
    per_tick = statistics.median(times)
    after = rss_mb()
    out = {
        "n": n,
        "tick_ms": 1e3 * per_tick,
        "reports_s": n / per_tick,
        "rss_mb": after,
        "monitor_mb": after - before,
        "open": len(monitor.book),
    }
    del batches, monitor
    gc.collect()
    # The same ticks as columns, without report objects (Monitor.ingest_columns).
    cols = [traffic.columns(k) for k in range(ticks + 1)]
    monitor = Monitor(POLICY, [])
    monitor.ingest_columns(**cols[0])  # type: ignore[arg-type]
    times = []
    for k in range(1, ticks + 1):
        t0 = time.perf_counter()
        monitor.ingest_columns(**cols[k])  # type: ignore[arg-type]
        times.append(time.perf_counter() - t0)
    monitor.flush()
    out["col_ms"] = 1e3 * statistics.median(times)
    assert len(monitor.book) == out["open"], "columns and objects disagree"
    del cols, monitor
    if baseline:
        t0 = time.perf_counter()
        out["pairs"] = all_pairs(traffic, ticks)
        out["base_ms"] = 1e3 * (time.perf_counter() - t0)
    gc.collect()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    ap.add_argument("--mix", choices=("dense", "theatre"), default="dense")
    args = ap.parse_args()
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    ticks = 3 if args.quick else 5
    print(f"load averages {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (before)")
    rows = [bench(n, ticks, baseline=n <= 10_000, mix=args.mix) for n in sizes]
    print(
        "| units | tick median ms | reports/s | growth vs 1k (units x) | RSS MB "
        "| monitor + reports MB | open alerts | all-pairs baseline ms | speed-up "
        "| columns: tick ms | columns: reports/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    first = rows[0]
    for r in rows:
        growth = r["tick_ms"] / first["tick_ms"]
        base = r.get("base_ms")
        speedup = "-" if base is None else f"{base / r['tick_ms']:.1f}"
        print(
            f"| {int(r['n']):,} | {r['tick_ms']:.1f} | {r['reports_s']:,.0f} "
            f"| {growth:.1f} ({r['n'] / first['n']:.0f}) | {r['rss_mb']:.0f} "
            f"| {r['monitor_mb']:.0f} | {int(r['open'])} "
            f"| {'-' if base is None else f'{base:.0f}'} "
            f"| {speedup} | {r['col_ms']:.1f} | {r['n'] / r['col_ms'] * 1e3:,.0f} |"
        )
    print(f"load averages {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (after)")


if __name__ == "__main__":
    main()
