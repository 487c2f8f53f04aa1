"""A checked batch's reports written out as rows, each value formatted once for both
places they go: the record's sealed `positions` content (canonical JSON of
`service.live.report_json` of each report) and the position queue's row (what
`json.dumps(rows, separators=(",", ":"))` wrote).

The two differ only in layout (sorted keys and UTF-8 against report order and `\\u`
escapes) and in a few numbers (canonical JSON writes `35.0` as `35`, `1e-05` as
`0.00001`), so a float is spelt once with `repr` and only the unusual ones again. It must
give exactly the bytes of the general encoders (tests/ingest/positions/test_rows.py): the
record's hashes cover them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from deconflict.record.canonical import Canonical, format_number

_CANONICAL_ROW = (
    '{"alt_m":%s,"course_deg":%s,"lat":%s,"lon":%s,"movement":%s,"source":%s,'
    '"speed_mps":%s,"time":%s,"unit":%s}'
)
"""A report row in canonical JSON: members in sorted order (all ASCII names)."""
_QUEUE_ROW = (
    '{"unit":%s,"time":%s,"lat":%s,"lon":%s,"alt_m":%s,"speed_mps":%s,'
    '"course_deg":%s,"movement":%s,"source":%s}'
)
"""A report row as json.dumps wrote `report_json` (its member order)."""
_utf8 = json.encoder.encode_basestring  # canonical: only `"`, `\\` and controls escaped
_ascii = json.encoder.encode_basestring_ascii  # json.dumps' default ensure_ascii


@dataclass(frozen=True, slots=True)
class Rows:
    """The rows of one batch, encoded."""

    record: Canonical
    """The canonical JSON of the list of rows (the sealed entry's `reports` content)."""
    queue: str
    """The list of rows as the position queue stores it."""


def _numbers(a: npt.NDArray[np.float64]) -> tuple[list[str], list[str]]:
    """(as json.dumps writes them, as canonical JSON writes them) for each value of `a`;
    NaN stands for a missing value (null). Cost: one `repr` per distinct run, O(n)."""
    n = len(a)
    values: list[float] = a.tolist()
    if n and values[0] != 0.0 and (a == a[0]).all():  # one time for the whole batch
        # (equal floats other than zeros, which may differ in sign, have one spelling)
        texts = [float.__repr__(values[0])] * n
    else:
        texts = list(map(float.__repr__, values))
    with np.errstate(invalid="ignore"):
        m = np.abs(a)
        usual = (m >= 1e-4) & (m < 1e16) & (np.trunc(a) != a)
    if usual.all():  # repr writes these canonically (record/entries.py, fast_canonical)
        return texts, texts
    dumped, canonical = list(texts), texts
    for i in np.flatnonzero(~usual).tolist():
        v = values[i]
        if math.isnan(v):
            dumped[i] = canonical[i] = "null"
        else:
            canonical[i] = format_number(v)
    return dumped, canonical


def _names(values: Sequence[str | None]) -> tuple[list[str], list[str]]:
    """(json.dumps' ASCII spelling, canonical UTF-8 spelling) of each text or None."""
    canonical = ["null" if v is None else _utf8(v) for v in values]
    if all(v is None or v.isascii() for v in values):
        return canonical, canonical
    return ["null" if v is None else _ascii(v) for v in values], canonical


def encode_rows(
    units: list[str],
    time_s: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    lon: npt.NDArray[np.float64],
    alt_m: npt.NDArray[np.float64],
    speed_mps: npt.NDArray[np.float64],
    course_deg: npt.NDArray[np.float64],
    movements: list[str | None],
    source: str,
) -> Rows | None:
    """The rows of a batch given column by column (finite floats; NaN for a missing
    optional value), as `report_json` makes them; None when a text cannot be written in
    UTF-8 (a lone surrogate: the general encoder refuses it)."""
    n = len(units)
    u_dumped, u_canonical = _names(units)
    m_dumped, m_canonical = _names(movements)
    s_dumped, s_canonical = _names([source])
    t_dumped, t_canonical = _numbers(time_s)
    la_dumped, la_canonical = _numbers(lat)
    lo_dumped, lo_canonical = _numbers(lon)
    a_dumped, a_canonical = _numbers(alt_m)
    sp_dumped, sp_canonical = _numbers(speed_mps)
    c_dumped, c_canonical = _numbers(course_deg)
    canonical = _CANONICAL_ROW.__mod__
    queue = _QUEUE_ROW.__mod__
    record = ",".join(
        map(
            canonical,
            zip(
                a_canonical,
                c_canonical,
                la_canonical,
                lo_canonical,
                m_canonical,
                s_canonical * n,
                sp_canonical,
                t_canonical,
                u_canonical,
                strict=True,
            ),
        )
    )
    queued = ",".join(
        map(
            queue,
            zip(
                u_dumped,
                t_dumped,
                la_dumped,
                lo_dumped,
                a_dumped,
                sp_dumped,
                c_dumped,
                m_dumped,
                s_dumped * n,
                strict=True,
            ),
        )
    )
    try:
        raw = f"[{record}]".encode()
    except UnicodeEncodeError:
        return None
    return Rows(Canonical(raw), f"[{queued}]")
