"""The strategic engine: an incremental 4-D index of declarations and their conflicts.

Movements are stored as timed segments in a hash grid over (x, y, z, t); sites and zones
as areas with local frames. Adding or removing a declaration touches only its own cells;
checking one declaration costs O(its segments x the segments near it in space and time),
never a scan of the index. Knows nothing of files, HTTP or SQL.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from deconflict.engine.areas import AreaEntry, make_area, near_times
from deconflict.engine.arrays import Column
from deconflict.engine.grid import HashGrid, TooManyCells
from deconflict.engine.merge import Findings, merge
from deconflict.engine.pairs import Side, refine
from deconflict.engine.segments import SegmentBatch, build_segments
from deconflict.errors import AlreadyExists, NotFound
from deconflict.geo.ellipsoid import FloatArray
from deconflict.model import (
    Conflict,
    Crossing,
    Declaration,
    DeclarationKey,
    Movement,
    Policy,
    Site,
    Zone,
    ZoneType,
)

IntArray = npt.NDArray[np.int64]

_EXTERNAL = -1  # slot of a declaration checked without being indexed
_REFINE_CHUNK = 500_000


@dataclass(frozen=True)
class _Unit:
    """What the engine needs of one declaration besides its geometry."""

    slot: int
    party: int
    buffer_m: float
    uncertainty_s: float
    alt_min_m: float
    alt_max_m: float


class Engine:
    """Declarations in, conflicts out (SPEC section 3).

    >>> eng = Engine(Policy(horizontal_m=1000, vertical_m=300))
    >>> eng.add_many(declarations)          # doctest: +SKIP
    >>> eng.conflicts_of(new_movement)      # doctest: +SKIP
    """

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        cell_m: float | None = None,
        cell_s: float | None = None,
    ) -> None:
        self.policy = policy or Policy()
        self._cell = (cell_m, cell_s)
        self._decls: list[Declaration | None] = []
        self._slots: dict[DeclarationKey, int] = {}
        self._parties: dict[str, int] = {}
        self._party = Column(np.int64)
        self._buffer = Column(np.float64)
        self._unc = Column(np.float64)
        self._alt = Column(np.float64, (2,))
        self._alive = Column(np.bool_)
        self._seg = {
            "p0": Column(np.float64, (3,)),
            "p1": Column(np.float64, (3,)),
            "t": Column(np.float64, (2,)),
            "ll": Column(np.float64, (4,)),
            "slot": Column(np.int64),
            "lo": Column(np.float64, (4,)),
            "hi": Column(np.float64, (4,)),
        }
        self._seg_range: dict[int, tuple[int, int]] = {}
        self._dead_segments = 0
        self._grid: HashGrid | None = None
        self._areas: dict[int, AreaEntry] = {}
        self._t_min = math.inf
        self._t_max = -math.inf

    # -- the collection ----------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, key: object) -> bool:
        return key in self._slots

    def __iter__(self) -> Iterator[Declaration]:
        return (d for d in self._decls if d is not None)

    def get(self, key: DeclarationKey) -> Declaration:
        slot = self._slots.get(DeclarationKey(*key))
        if slot is None:
            raise NotFound(f"No declaration {key[1]!r} of party {key[0]!r} is indexed.")
        decl = self._decls[slot]
        assert decl is not None
        return decl

    def add(self, decl: Declaration) -> None:
        """Index one declaration; AlreadyExists if its (party, id) is indexed."""
        self.add_many([decl])

    def add_many(self, decls: Iterable[Declaration]) -> None:
        """Index many declarations at once (vectorised); all or nothing."""
        batch = list(decls)
        seen: set[DeclarationKey] = set()
        for d in batch:
            if d.key in self._slots or d.key in seen:
                raise AlreadyExists(
                    f"Declaration {d.id!r} of party {d.party!r} is already indexed; "
                    "remove it first or give the new one another id."
                )
            seen.add(d.key)
        movements: list[Movement] = []
        slots: list[int] = []
        for d in batch:
            slot = len(self._decls)
            self._decls.append(d)
            self._slots[d.key] = slot
            party = self._parties.setdefault(d.party, len(self._parties))
            unc = d.time_uncertainty_s if isinstance(d, Movement) else 0.0
            self._party.extend([party])
            self._buffer.extend([d.buffer_m])
            self._unc.extend([unc])
            self._alt.extend([[d.alt_min_m, d.alt_max_m]])
            self._alive.extend([True])
            if isinstance(d, Movement):
                movements.append(d)
                slots.append(slot)
            else:
                self._areas[slot] = make_area(slot, d)
        if movements:
            self._index_movements(movements, np.asarray(slots, dtype=np.int64))

    def remove(self, key: DeclarationKey) -> Declaration:
        """Take a declaration out of the index (amend = remove + add)."""
        decl = self.get(key)
        slot = self._slots.pop(decl.key)
        self._decls[slot] = None
        self._alive.view[slot] = False
        self._areas.pop(slot, None)
        rng = self._seg_range.pop(slot, None)
        if rng is not None:
            self._dead_segments += rng[1] - rng[0]
            live = self._seg["slot"].size - self._dead_segments
            if self._dead_segments > max(10_000, live):
                self._compact()
        return decl

    # -- indexing ----------------------------------------------------------------------

    def _index_movements(self, movements: list[Movement], slots: IntArray) -> None:
        seg = build_segments(movements)
        seg_slot = slots[seg.owner]
        lo, hi = seg.boxes(
            self._buffer.view[seg_slot] + self.policy.horizontal_m / 2, self._unc.view[seg_slot]
        )
        if self._grid is None:
            self._grid = HashGrid(*self._cell_size(lo, hi))
        start = self._seg["slot"].size
        for name, values in (
            ("p0", seg.p0),
            ("p1", seg.p1),
            ("t", seg.t),
            ("ll", seg.ll),
            ("slot", seg_slot),
            ("lo", lo),
            ("hi", hi),
        ):
            self._seg[name].extend(values)
        ids = np.arange(start, start + len(seg))
        # Segment ranges per slot: owners are contiguous and in batch order.
        bounds = np.searchsorted(seg.owner, np.arange(len(movements) + 1))
        for i, slot in enumerate(slots.tolist()):
            self._seg_range[slot] = (start + int(bounds[i]), start + int(bounds[i + 1]))
        self._grid.insert(ids, lo, hi)
        if len(seg):
            self._t_min = min(self._t_min, float(lo[:, 3].min()))
            self._t_max = max(self._t_max, float(hi[:, 3].max()))

    def _cell_size(self, lo: FloatArray, hi: FloatArray) -> tuple[float, float]:
        """Cells about twice the median box: each box spans ~1.5 cells per axis."""
        cell_m, cell_s = self._cell
        if cell_m is None:
            ext = np.median((hi[:, :3] - lo[:, :3]).max(axis=1)) if len(lo) >= 100 else 0.0
            cell_m = float(np.clip(2 * ext, 4 * self.policy.horizontal_m, 200_000))
        if cell_s is None:
            ext_t = np.median(hi[:, 3] - lo[:, 3]) if len(lo) >= 100 else 0.0
            cell_s = float(np.clip(2 * ext_t, 3600, 7 * 86400))
        return cell_m, cell_s

    def _compact(self) -> None:
        """Drop removed segments and rebuild the grid: amortised O(1) per removal."""
        live = sorted(self._seg_range.items(), key=lambda kv: kv[1][0])
        keep = (
            np.concatenate([np.arange(a, b) for _, (a, b) in live])
            if live
            else np.zeros(0, dtype=np.int64)
        )
        cols = {name: col.view[keep] for name, col in self._seg.items()}
        for name, col in self._seg.items():
            fresh = Column(col.view.dtype, col.view.shape[1:], max(1024, keep.size))
            fresh.extend(cols[name])
            self._seg[name] = fresh
        pos = 0
        for slot, (a, b) in live:
            self._seg_range[slot] = (pos, pos + b - a)
            pos += b - a
        self._dead_segments = 0
        assert self._grid is not None
        self._grid = HashGrid(float(self._grid.cell[0]), float(self._grid.cell[3]))
        self._grid.insert(np.arange(keep.size), cols["lo"], cols["hi"])

    # -- queries -----------------------------------------------------------------------

    def conflicts_of(self, target: Declaration | DeclarationKey) -> list[Conflict]:
        """Conflicts of one declaration (indexed or not) with the indexed declarations of
        other parties."""
        decl, unit = self._resolve(target)
        if isinstance(decl, Movement):
            findings = self._movement_findings(decl, unit)
        else:
            findings = self._area_findings(decl, unit, crossings=False)
        return self._conflicts(merge(findings), decl)

    def crossings_of(self, target: Declaration | DeclarationKey) -> list[Crossing]:
        """Corridor and ceasefire zones the movement passes through, or movements that pass
        through the zone."""
        decl, unit = self._resolve(target)
        if isinstance(decl, Movement):
            findings = self._movement_area_findings(decl, unit, crossings=True)
        elif isinstance(decl, Zone) and decl.zone_type is not ZoneType.RESTRICTED:
            findings = self._area_findings(decl, unit, crossings=True)
        else:
            return []
        return self._crossings(merge(findings), decl)

    def all_conflicts(self) -> list[Conflict]:
        """Every conflict among the indexed declarations."""
        parts = [self._all_movement_pairs()]
        for area in list(self._areas.values()):
            unit = self._unit(area.slot)
            parts.append(self._area_findings(area.decl, unit, crossings=False, entry=area))
        return self._conflicts(merge(Findings.concat(parts)), None)

    def all_crossings(self) -> list[Crossing]:
        parts = []
        for area in self._areas.values():
            decl = area.decl
            if isinstance(decl, Zone) and decl.zone_type is not ZoneType.RESTRICTED:
                unit = self._unit(area.slot)
                parts.append(self._area_findings(decl, unit, crossings=True, entry=area))
        return self._crossings(merge(Findings.concat(parts)), None)

    # -- internals ---------------------------------------------------------------------

    def _unit(self, slot: int) -> _Unit:
        return _Unit(
            slot,
            int(self._party.view[slot]),
            float(self._buffer.view[slot]),
            float(self._unc.view[slot]),
            float(self._alt.view[slot, 0]),
            float(self._alt.view[slot, 1]),
        )

    def _resolve(self, target: Declaration | DeclarationKey) -> tuple[Declaration, _Unit]:
        if isinstance(target, tuple):
            decl = self.get(DeclarationKey(*target))
            return decl, self._unit(self._slots[decl.key])
        slot = self._slots.get(target.key)
        if slot is not None and self._decls[slot] is target:
            return target, self._unit(slot)
        # Not indexed (or a new version of an indexed one): check it from outside, and
        # never against the version it would replace.
        party = self._parties.get(target.party, -2)
        unc = target.time_uncertainty_s if isinstance(target, Movement) else 0.0
        unit = _Unit(
            _EXTERNAL if slot is None else -3 - slot,
            party,
            target.buffer_m,
            unc,
            target.alt_min_m,
            target.alt_max_m,
        )
        return target, unit

    def _excluded_slot(self, unit: _Unit) -> int:
        return unit.slot if unit.slot >= 0 else (-3 - unit.slot if unit.slot <= -3 else -1)

    def _query_segments(self, decl: Movement, unit: _Unit) -> SegmentBatch:
        if unit.slot >= 0:
            a, b = self._seg_range[unit.slot]
            return SegmentBatch(
                self._seg["p0"].view[a:b],
                self._seg["p1"].view[a:b],
                self._seg["t"].view[a:b],
                self._seg["ll"].view[a:b],
                np.zeros(b - a, dtype=np.int64),
            )
        return build_segments([decl])

    def _vertical_ok(
        self, unit: _Unit, slots: IntArray, touching: bool = False
    ) -> npt.NDArray[np.bool_]:
        """Bands within V of each other (SPEC 3), or, for restricted zones (`touching`),
        overlapping bands with no margin."""
        alt = self._alt.view[slots]
        gap = np.maximum(unit.alt_min_m, alt[:, 0]) - np.minimum(unit.alt_max_m, alt[:, 1])
        ok: npt.NDArray[np.bool_] = (
            gap <= 0 if touching else np.maximum(gap, 0.0) < self.policy.vertical_m
        )
        return ok

    def _movement_findings(self, decl: Movement, unit: _Unit) -> Findings:
        parts = [self._movement_area_findings(decl, unit, crossings=False)]
        grid = self._grid
        if grid is None or grid.entries == 0:
            return Findings.concat(parts)
        seg = self._query_segments(decl, unit)
        if len(seg) == 0:
            return Findings.concat(parts)
        lo, hi = seg.boxes(
            np.full(len(seg), unit.buffer_m + self.policy.horizontal_m / 2),
            np.full(len(seg), unit.uncertainty_s),
        )
        try:
            q, cand = grid.candidates(lo, hi)
        except TooManyCells:
            q, cand = self._scan(lo, hi)
        q, cand = self._filter_pairs(q, cand, lo, hi, unit)
        if q.size:
            side_a = Side(
                seg.p0[q], seg.p1[q], seg.t[q], seg.ll[q], np.full(q.size, unit.uncertainty_s)
            )
            parts.append(self._refine(side_a, cand, np.full(q.size, unit.slot), unit.buffer_m))
        return Findings.concat(parts)

    def _scan(self, lo: FloatArray, hi: FloatArray) -> tuple[IntArray, IntArray]:
        """Fallback for huge query boxes: every stored segment against every box."""
        slo, shi = self._seg["lo"].view, self._seg["hi"].view
        qs, cs = [], []
        for i in range(lo.shape[0]):
            hit = np.flatnonzero(np.all((slo <= hi[i]) & (shi >= lo[i]), axis=1))
            qs.append(np.full(hit.size, i, dtype=np.int64))
            cs.append(hit.astype(np.int64))
        return np.concatenate(qs), np.concatenate(cs)

    def _filter_pairs(
        self, q: IntArray, cand: IntArray, lo: FloatArray, hi: FloatArray, unit: _Unit
    ) -> tuple[IntArray, IntArray]:
        """Keep live candidates of other parties, vertically close, whose boxes overlap;
        each (query segment, stored segment) pair once."""
        slot_b = self._seg["slot"].view[cand]
        keep = self._alive.view[slot_b] & (self._party.view[slot_b] != unit.party)
        keep &= slot_b != self._excluded_slot(unit)
        q, cand, slot_b = q[keep], cand[keep], slot_b[keep]
        keep = self._vertical_ok(unit, slot_b)
        q, cand = q[keep], cand[keep]
        slo, shi = self._seg["lo"].view[cand], self._seg["hi"].view[cand]
        keep = np.all((slo <= hi[q]) & (shi >= lo[q]), axis=1)
        q, cand = q[keep], cand[keep]
        key = np.unique(q * (self._seg["slot"].size + 1) + cand)
        return key // (self._seg["slot"].size + 1), key % (self._seg["slot"].size + 1)

    def _side(self, seg_ids: IntArray) -> Side:
        s = self._seg
        slot = s["slot"].view[seg_ids]
        return Side(
            s["p0"].view[seg_ids],
            s["p1"].view[seg_ids],
            s["t"].view[seg_ids],
            s["ll"].view[seg_ids],
            self._unc.view[slot],
        )

    def _refine(
        self, a: Side, b_seg: IntArray, a_slot: IntArray, a_buffer: float | FloatArray
    ) -> Findings:
        """Refine pairs (a rows, stored segments b) in bounded chunks."""
        parts = []
        for c in range(0, b_seg.size, _REFINE_CHUNK):
            sl = slice(c, c + _REFINE_CHUNK)
            b_ids = b_seg[sl]
            slot_b = self._seg["slot"].view[b_ids]
            a_buf = (
                a_buffer[sl] if isinstance(a_buffer, np.ndarray) else np.full(b_ids.size, a_buffer)
            )
            buffers = a_buf + self._buffer.view[slot_b]
            reach = self.policy.horizontal_m + buffers
            side_a = Side(a.p0[sl], a.p1[sl], a.t[sl], a.ll[sl], a.u[sl])
            res = refine(side_a, self._side(b_ids), reach)
            parts.append(
                Findings(
                    a_slot[sl][res.index],
                    slot_b[res.index],
                    res.start,
                    res.end,
                    np.maximum(0.0, res.distance_m - buffers[res.index]),
                    res.at,
                )
            )
        return Findings.concat(parts)

    def _all_movement_pairs(self) -> Findings:
        if self._grid is None:
            return Findings.concat([])
        seg_slot = self._seg["slot"].view
        n = seg_slot.size + 1
        keys = []
        alt = self._alt.view
        for i, j in self._grid.co_cell_pairs():
            si, sj = seg_slot[i], seg_slot[j]
            keep = self._alive.view[si] & self._alive.view[sj]
            keep &= self._party.view[si] != self._party.view[sj]
            i, j, si, sj = i[keep], j[keep], si[keep], sj[keep]
            gap = np.maximum(
                0.0, np.maximum(alt[si, 0], alt[sj, 0]) - np.minimum(alt[si, 1], alt[sj, 1])
            )
            keep = gap < self.policy.vertical_m
            i, j = i[keep], j[keep]
            lo, hi = self._seg["lo"].view, self._seg["hi"].view
            keep = np.all((lo[i] <= hi[j]) & (hi[i] >= lo[j]), axis=1)
            i, j = i[keep], j[keep]
            keys.append(np.minimum(i, j) * n + np.maximum(i, j))
        if not keys:
            return Findings.concat([])
        pairs = np.unique(np.concatenate(keys))
        i, j = pairs // n, pairs % n
        a = self._side(i)
        return self._refine(a, j, seg_slot[i], self._buffer.view[seg_slot[i]])

    def _area_reach(self, area: Site | Zone) -> tuple[float, bool]:
        """Extra reach beyond the buffers, and whether touching counts."""
        if isinstance(area, Site):
            return self.policy.horizontal_m, False
        return 0.0, True

    def _wanted_area(self, area: Site | Zone, crossings: bool) -> bool:
        if isinstance(area, Site):
            return not crossings
        restricted = area.zone_type is ZoneType.RESTRICTED
        return restricted != crossings

    def _movement_area_findings(self, decl: Movement, unit: _Unit, crossings: bool) -> Findings:
        """A movement against the indexed areas (sites, zones)."""
        entries = [
            e
            for e in self._areas.values()
            if self._wanted_area(e.decl, crossings)
            and self._party.view[e.slot] != unit.party
            and e.slot != self._excluded_slot(unit)
        ]
        if not entries:
            return Findings.concat([])
        seg = self._query_segments(decl, unit)
        lo, hi = seg.boxes(
            np.full(len(seg), unit.buffer_m + self.policy.horizontal_m / 2),
            np.full(len(seg), unit.uncertainty_s),
        )
        parts = []
        for e in entries:
            area_unit = self._unit(e.slot)
            if not self._vertical_ok(unit, np.array([e.slot]), isinstance(e.decl, Zone))[0]:
                continue
            pad = area_unit.buffer_m + self.policy.horizontal_m / 2
            rows = np.flatnonzero(
                np.all(lo[:, :3] <= e.box_hi + pad, axis=1)
                & np.all(hi[:, :3] >= e.box_lo - pad, axis=1)
                & (lo[:, 3] <= e.decl.end_s)
                & (hi[:, 3] >= e.decl.start_s)
            )
            if rows.size:
                parts.append(
                    self._area_hits(
                        e,
                        area_unit,
                        seg.ll[rows],
                        seg.t[rows],
                        np.full(rows.size, unit.slot),
                        np.full(rows.size, unit.buffer_m),
                        np.full(rows.size, unit.uncertainty_s),
                        crossings,
                        area_first=False,
                    )
                )
        return Findings.concat(parts)

    def _area_findings(
        self, area: Site | Zone, unit: _Unit, crossings: bool, entry: AreaEntry | None = None
    ) -> Findings:
        """An area (indexed or not) against the indexed movements."""
        if not self._wanted_area(area, crossings) or self._grid is None:
            return Findings.concat([])
        if entry is None:
            entry = self._areas.get(unit.slot) if unit.slot >= 0 else make_area(-1, area)
        assert entry is not None
        pad = unit.buffer_m + self.policy.horizontal_m / 2
        t_lo = max(area.start_s, self._t_min)
        t_hi = min(area.end_s, self._t_max)
        if t_lo > t_hi:
            return Findings.concat([])
        lo = np.append(entry.box_lo - pad, t_lo)[None, :]
        hi = np.append(entry.box_hi + pad, t_hi)[None, :]
        try:
            _, cand = self._grid.candidates(lo, hi)
        except TooManyCells:
            _, cand = self._scan(lo, hi)
        cand = np.unique(cand)
        slot = self._seg["slot"].view[cand]
        keep = self._alive.view[slot] & (self._party.view[slot] != unit.party)
        keep &= slot != self._excluded_slot(unit)
        cand, slot = cand[keep], slot[keep]
        keep = self._vertical_ok(unit, slot, isinstance(area, Zone))
        cand, slot = cand[keep], slot[keep]
        slo, shi = self._seg["lo"].view[cand], self._seg["hi"].view[cand]
        keep = np.all((slo <= hi) & (shi >= lo), axis=1)
        cand, slot = cand[keep], slot[keep]
        if cand.size == 0:
            return Findings.concat([])
        return self._area_hits(
            entry,
            unit,
            self._seg["ll"].view[cand],
            self._seg["t"].view[cand],
            slot,
            self._buffer.view[slot],
            self._unc.view[slot],
            crossings,
            area_first=True,
        )

    def _area_hits(
        self,
        entry: AreaEntry,
        area_unit: _Unit,
        ll: FloatArray,
        t: FloatArray,
        mov_slot: IntArray,
        mov_buffer: FloatArray,
        mov_unc: FloatArray,
        crossings: bool,
        area_first: bool,
    ) -> Findings:
        area = entry.decl
        extra, closed = self._area_reach(area)
        reach = extra + mov_buffer + area_unit.buffer_m
        valid_lo, valid_hi = area.start_s, area.end_s
        hits = near_times(entry, ll, t, reach, closed, valid_lo - mov_unc, valid_hi + mov_unc)
        r = hits.row
        start = np.maximum(hits.t_lo - mov_unc[r], valid_lo)
        end = np.minimum(hits.t_hi + mov_unc[r], valid_hi)
        ok = start <= end
        dist = np.maximum(0.0, hits.distance_m - mov_buffer[r] - area_unit.buffer_m)
        area_slot = np.full(r.size, area_unit.slot)
        a, b = (area_slot, mov_slot[r]) if area_first else (mov_slot[r], area_slot)
        return Findings(a[ok], b[ok], start[ok], end[ok], dist[ok], hits.at[ok])

    def _decl_of(self, slot: int, external: Declaration | None) -> Declaration:
        if slot < 0:
            assert external is not None
            return external
        d = self._decls[slot]
        assert d is not None
        return d

    def _conflicts(self, f: Findings, external: Declaration | None) -> list[Conflict]:
        out = []
        for k in range(f.a.size):
            da = self._decl_of(int(f.a[k]), external)
            db = self._decl_of(int(f.b[k]), external)
            if (db.party, db.id) < (da.party, da.id):
                da, db = db, da
            out.append(
                Conflict(
                    a=da.id,
                    b=db.id,
                    party_a=da.party,
                    party_b=db.party,
                    start_s=float(f.start[k]),
                    end_s=float(f.end[k]),
                    min_distance_m=float(f.distance_m[k]),
                    at=(float(f.at[k, 0]), float(f.at[k, 1])),
                )
            )
        out.sort(key=lambda c: (c.start_s, c.party_a, c.a, c.party_b, c.b))
        return out

    def _crossings(self, f: Findings, external: Declaration | None) -> list[Crossing]:
        out = []
        for k in range(f.a.size):
            d1 = self._decl_of(int(f.a[k]), external)
            d2 = self._decl_of(int(f.b[k]), external)
            zone, mov = (d1, d2) if isinstance(d1, Zone) else (d2, d1)
            assert isinstance(zone, Zone)
            out.append(
                Crossing(
                    zone=zone.id,
                    zone_party=zone.party,
                    zone_type=zone.zone_type,
                    movement=mov.id,
                    movement_party=mov.party,
                    start_s=float(f.start[k]),
                    end_s=float(f.end[k]),
                )
            )
        out.sort(key=lambda c: (c.start_s, c.zone_party, c.zone, c.movement_party, c.movement))
        return out
