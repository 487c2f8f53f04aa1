"""The strategic engine: an incremental 4-D index of declarations and their conflicts.

Movements are stored as timed segments in a hash grid over (x, y, z, t) (engine.store);
sites and zones as areas with local frames (engine.areas). Adding or removing a declaration
touches only its own cells; checking one declaration costs O(its segments x the segments
near it in space and time), never a scan of the index. Knows nothing of files, HTTP or SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from deconflict.engine.areas import AreaEntry, make_area, near_times
from deconflict.engine.arrays import Column
from deconflict.engine.merge import Findings, merge
from deconflict.engine.pairs import TOLERANCE_M, Side, refine
from deconflict.engine.results import Lookup, to_conflicts, to_crossings
from deconflict.engine.segments import SegmentBatch, build_segments
from deconflict.engine.store import SegmentStore
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
BoolArray = npt.NDArray[np.bool_]

_NOT_INDEXED = -1
_REFINE_CHUNK = 500_000


@dataclass(frozen=True)
class _Unit:
    """What a query needs of one declaration besides its geometry."""

    slot: int
    """Its slot, or -1 when it is checked without being indexed."""
    exclude: int
    """A slot never to compare with: itself, or the version it would replace (else -1)."""
    party: int
    buffer_m: float
    uncertainty_s: float
    alt_min_m: float
    alt_max_m: float


class Engine:
    """Declarations in, conflicts out (SPEC section 3)."""

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        cell_m: float | None = None,
        cell_s: float | None = None,
    ) -> None:
        self.policy = policy or Policy()
        self._decls: list[Declaration | None] = []
        self._slots: dict[DeclarationKey, int] = {}
        self._parties: dict[str, int] = {}
        self._party = Column(np.int64)
        self._buffer = Column(np.float64)
        self._unc = Column(np.float64)
        self._alt = Column(np.float64, (2,))
        self._alive = Column(np.bool_)
        self._store = SegmentStore(4 * self.policy.horizontal_m, cell_m, cell_s)
        self._areas: dict[int, AreaEntry] = {}
        self._built: tuple[Movement, SegmentBatch] | None = None
        """The segments of the last movement queried while not indexed: a submission
        checks a movement, then indexes that same (immutable) one."""

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
        # Everything that can fail is computed before the index changes.
        first = len(self._decls)
        slot_of = {id(d): first + i for i, d in enumerate(batch)}
        movements = [d for d in batch if isinstance(d, Movement)]
        areas = [make_area(slot_of[id(d)], d) for d in batch if not isinstance(d, Movement)]
        built, self._built = self._built, None
        if len(movements) == 1 and built is not None and built[0] is movements[0]:
            segments: SegmentBatch | None = built[1]
        else:
            segments = build_segments(movements) if movements else None
        for d in batch:
            self._slots[d.key] = len(self._decls)
            self._decls.append(d)
            self._party.extend([self._parties.setdefault(d.party, len(self._parties))])
            self._buffer.extend([d.buffer_m])
            self._unc.extend([d.time_uncertainty_s if isinstance(d, Movement) else 0.0])
            self._alt.extend([[d.alt_min_m, d.alt_max_m]])
            self._alive.extend([True])
        self._areas.update((a.slot, a) for a in areas)
        if segments is not None:
            slots = np.fromiter((slot_of[id(m)] for m in movements), np.int64, len(movements))
            rows = slots[segments.owner]
            self._store.add(
                segments,
                slots,
                self._buffer.view[rows] + self.policy.horizontal_m / 2,
                self._unc.view[rows],
            )

    def remove(self, key: DeclarationKey) -> Declaration:
        """Take a declaration out of the index (amend = remove + add)."""
        decl = self.get(key)
        slot = self._slots.pop(decl.key)
        self._decls[slot] = None
        self._alive.view[slot] = False
        self._areas.pop(slot, None)
        self._store.remove(slot)
        return decl

    # -- queries -----------------------------------------------------------------------

    def conflicts_of(self, target: Declaration | DeclarationKey) -> list[Conflict]:
        """Conflicts of one declaration (indexed or not) with the indexed declarations of
        other parties. A new version of an indexed declaration is never compared with the
        version it would replace."""
        decl, unit = self._resolve(target)
        if isinstance(decl, Movement):
            findings = Findings.concat(
                [
                    self._movement_area_findings(decl, unit, crossings=False),
                    self._movement_pair_findings(decl, unit),
                ]
            )
        else:
            findings = self._area_findings(decl, unit, crossings=False)
        return to_conflicts(merge(findings), self._lookup(decl))

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
        return to_crossings(merge(findings), self._lookup(decl))

    def all_conflicts(self) -> list[Conflict]:
        """Every conflict among the indexed declarations."""
        parts = [self._all_movement_pairs()]
        for area in list(self._areas.values()):
            unit = self._unit(area.slot)
            parts.append(self._area_findings(area.decl, unit, crossings=False, entry=area))
        return to_conflicts(merge(Findings.concat(parts)), self._lookup(None))

    def all_crossings(self) -> list[Crossing]:
        """Every movement passing through a corridor or ceasefire zone of the index."""
        parts = []
        for area in self._areas.values():
            decl = area.decl
            if isinstance(decl, Zone) and decl.zone_type is not ZoneType.RESTRICTED:
                unit = self._unit(area.slot)
                parts.append(self._area_findings(decl, unit, crossings=True, entry=area))
        return to_crossings(merge(Findings.concat(parts)), self._lookup(None))

    # -- units and filters -------------------------------------------------------------

    def _unit(self, slot: int) -> _Unit:
        return _Unit(
            slot,
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
        return target, _Unit(
            _NOT_INDEXED,
            -1 if slot is None else slot,
            self._parties.get(target.party, -2),
            target.buffer_m,
            target.time_uncertainty_s if isinstance(target, Movement) else 0.0,
            target.alt_min_m,
            target.alt_max_m,
        )

    def _lookup(self, external: Declaration | None) -> Lookup:
        """Slot -> declaration, where a negative slot is the one being checked."""

        def lookup(slot: int) -> Declaration:
            decl = external if slot < 0 else self._decls[slot]
            assert decl is not None
            return decl

        return lookup

    def _query_segments(self, decl: Movement, unit: _Unit) -> SegmentBatch:
        if unit.slot >= 0:
            return self._store.batch_of(unit.slot)
        seg = build_segments([decl])
        self._built = (decl, seg)
        return seg

    def _others(self, unit: _Unit, slots: IntArray) -> BoolArray:
        """Live declarations of other parties, never the unit itself (or its old version)."""
        keep: BoolArray = self._alive.view[slots] & (self._party.view[slots] != unit.party)
        keep &= slots != unit.exclude
        return keep

    def _bands_ok(
        self,
        min_a: FloatArray | float,
        max_a: FloatArray | float,
        alt_b: FloatArray,
        touching: bool = False,
    ) -> BoolArray:
        """Bands within V of each other (SPEC 3), or, for restricted zones (`touching`),
        overlapping bands with no margin; both to the 1 mm tolerance."""
        gap = np.maximum(min_a, alt_b[:, 0]) - np.minimum(max_a, alt_b[:, 1])
        ok: BoolArray = (
            gap <= TOLERANCE_M if touching else gap < self.policy.vertical_m - TOLERANCE_M
        )
        return ok

    def _vertical_ok(self, unit: _Unit, slots: IntArray, touching: bool = False) -> BoolArray:
        return self._bands_ok(unit.alt_min_m, unit.alt_max_m, self._alt.view[slots], touching)

    def _query_boxes(self, seg: SegmentBatch, unit: _Unit) -> tuple[FloatArray, FloatArray]:
        n = len(seg)
        return seg.boxes(
            np.full(n, unit.buffer_m + self.policy.horizontal_m / 2),
            np.full(n, unit.uncertainty_s),
        )

    # -- movement against movements ----------------------------------------------------

    def _movement_pair_findings(self, decl: Movement, unit: _Unit) -> Findings:
        seg = self._query_segments(decl, unit)
        if len(seg) == 0 or self._store.rows == 0:
            return Findings.concat([])
        lo, hi = self._query_boxes(seg, unit)
        q, cand = self._store.candidates(lo, hi)
        slot_b = self._store.slots[cand]
        keep = self._others(unit, slot_b)
        q, cand, slot_b = q[keep], cand[keep], slot_b[keep]
        keep = self._vertical_ok(unit, slot_b)
        q, cand = q[keep], cand[keep]
        keep = np.all(
            (self._store.col("lo")[cand] <= hi[q]) & (self._store.col("hi")[cand] >= lo[q]), axis=1
        )
        # Each (query segment, stored segment) pair once, though it may share many cells.
        width = self._store.rows + 1
        key = np.unique(q[keep] * width + cand[keep])
        q, cand = key // width, key % width
        if q.size == 0:
            return Findings.concat([])
        side_a = Side(
            seg.p0[q], seg.p1[q], seg.t[q], seg.ll[q], np.full(q.size, unit.uncertainty_s)
        )
        return self._refine(
            side_a, cand, np.full(q.size, unit.slot), np.full(q.size, unit.buffer_m)
        )

    def _all_movement_pairs(self) -> Findings:
        store = self._store
        seg_slot = store.slots
        width = store.rows + 1
        alt = self._alt.view
        lo, hi = store.col("lo"), store.col("hi")
        keys = []
        for i, j in store.co_cell_pairs():
            si, sj = seg_slot[i], seg_slot[j]
            keep = self._alive.view[si] & self._alive.view[sj]
            keep &= self._party.view[si] != self._party.view[sj]
            i, j, si, sj = i[keep], j[keep], si[keep], sj[keep]
            keep = self._bands_ok(alt[si, 0], alt[si, 1], alt[sj])
            i, j = i[keep], j[keep]
            keep = np.all((lo[i] <= hi[j]) & (hi[i] >= lo[j]), axis=1)
            i, j = i[keep], j[keep]
            keys.append(np.minimum(i, j) * width + np.maximum(i, j))
        if not keys:
            return Findings.concat([])
        pairs = np.unique(np.concatenate(keys))
        i, j = pairs // width, pairs % width
        a = store.side(i, self._unc.view[seg_slot[i]])
        return self._refine(a, j, seg_slot[i], self._buffer.view[seg_slot[i]])

    def _refine(
        self, a: Side, b_rows: IntArray, a_slot: IntArray, a_buffer: FloatArray
    ) -> Findings:
        """Refine pairs (a, stored rows b) in bounded chunks."""
        parts = []
        for c in range(0, b_rows.size, _REFINE_CHUNK):
            sl = slice(c, c + _REFINE_CHUNK)
            rows = b_rows[sl]
            slot_b = self._store.slots[rows]
            buffers = a_buffer[sl] + self._buffer.view[slot_b]
            res = refine(
                Side(a.p0[sl], a.p1[sl], a.t[sl], a.ll[sl], a.u[sl]),
                self._store.side(rows, self._unc.view[slot_b]),
                self.policy.horizontal_m + buffers,
            )
            parts.append(
                Findings(
                    a_slot[sl][res.index],
                    slot_b[res.index],
                    res.start,
                    res.end,
                    res.distance_m - buffers[res.index],
                    res.at,
                )
            )
        return Findings.concat(parts)

    # -- movements against areas -------------------------------------------------------

    def _area_reach(self, area: Site | Zone) -> tuple[float, bool]:
        """Extra reach beyond the buffers, and whether touching counts (SPEC 3: H for
        sites; restricted zones count from the moment the unit may touch them)."""
        if isinstance(area, Site):
            return self.policy.horizontal_m, False
        return 0.0, True

    @staticmethod
    def _wanted_area(area: Site | Zone, crossings: bool) -> bool:
        if isinstance(area, Site):
            return not crossings
        return (area.zone_type is ZoneType.RESTRICTED) != crossings

    def _movement_area_findings(self, decl: Movement, unit: _Unit, crossings: bool) -> Findings:
        """A movement against the indexed areas (sites, zones)."""
        entries = [
            e
            for e in self._areas.values()
            if self._wanted_area(e.decl, crossings)
            and self._others(unit, np.array([e.slot]))[0]
            and self._vertical_ok(unit, np.array([e.slot]), isinstance(e.decl, Zone))[0]
        ]
        if not entries:
            return Findings.concat([])
        seg = self._query_segments(decl, unit)
        lo, hi = self._query_boxes(seg, unit)
        parts = []
        for e in entries:
            area_unit = self._unit(e.slot)
            pad = area_unit.buffer_m + self.policy.horizontal_m / 2
            rows = np.flatnonzero(
                np.all(lo[:, :3] <= e.box_hi + pad, axis=1)
                & np.all(hi[:, :3] >= e.box_lo - pad, axis=1)
                & (lo[:, 3] <= e.decl.end_s)
                & (hi[:, 3] >= e.decl.start_s)
            )
            if rows.size:
                n = rows.size
                parts.append(
                    self._area_hits(
                        e,
                        area_unit,
                        seg.ll[rows],
                        seg.t[rows],
                        np.full(n, unit.slot),
                        np.full(n, unit.buffer_m),
                        np.full(n, unit.uncertainty_s),
                        area_first=False,
                    )
                )
        return Findings.concat(parts)

    def _area_findings(
        self, area: Site | Zone, unit: _Unit, crossings: bool, entry: AreaEntry | None = None
    ) -> Findings:
        """An area (indexed or not) against the indexed movements."""
        store = self._store
        if not self._wanted_area(area, crossings) or store.rows == 0:
            return Findings.concat([])
        if entry is None:
            entry = self._areas[unit.slot] if unit.slot >= 0 else make_area(_NOT_INDEXED, area)
        pad = unit.buffer_m + self.policy.horizontal_m / 2
        t_lo = max(area.start_s, store.t_min)
        t_hi = min(area.end_s, store.t_max)
        if t_lo > t_hi:
            return Findings.concat([])
        lo = np.append(entry.box_lo - pad, t_lo)[None, :]
        hi = np.append(entry.box_hi + pad, t_hi)[None, :]
        _, cand = store.candidates(lo, hi)
        cand = np.unique(cand)
        slot = store.slots[cand]
        keep = self._others(unit, slot) & self._vertical_ok(unit, slot, isinstance(area, Zone))
        cand, slot = cand[keep], slot[keep]
        keep = np.all((store.col("lo")[cand] <= hi) & (store.col("hi")[cand] >= lo), axis=1)
        cand, slot = cand[keep], slot[keep]
        if cand.size == 0:
            return Findings.concat([])
        return self._area_hits(
            entry,
            unit,
            store.col("ll")[cand],
            store.col("t")[cand],
            slot,
            self._buffer.view[slot],
            self._unc.view[slot],
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
        area_first: bool,
    ) -> Findings:
        """Segments near one area: a unit `u` early or late conflicts at t when some plan
        time within u of t brings it within reach, and t is inside the area's validity."""
        area = entry.decl
        extra, closed = self._area_reach(area)
        reach = extra + mov_buffer + area_unit.buffer_m
        valid_lo, valid_hi = area.start_s, area.end_s
        hits = near_times(entry, ll, t, reach, closed, valid_lo - mov_unc, valid_hi + mov_unc)
        r = hits.row
        start = np.maximum(hits.t_lo - mov_unc[r], valid_lo)
        end = np.minimum(hits.t_hi + mov_unc[r], valid_hi)
        ok = start <= end
        dist = hits.distance_m - mov_buffer[r] - area_unit.buffer_m
        area_slot = np.full(r.size, area_unit.slot)
        a, b = (area_slot, mov_slot[r]) if area_first else (mov_slot[r], area_slot)
        return Findings(a[ok], b[ok], start[ok], end[ok], dist[ok], hits.at[ok])
