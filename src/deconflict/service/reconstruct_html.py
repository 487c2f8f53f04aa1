"""report.html of an incident bundle: one self-contained page (inline SVG and CSS, no
script, no external request) with a map of plans versus tracks in a local projection
centred on the place, a timeline of the window, and tables of what the report holds."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from shapely.geometry import shape

from deconflict.service.reconstruct import Local, parse_time

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")
SIZE = 640.0


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _colours(report: Mapping[str, Any]) -> dict[str, str]:
    parties = sorted(
        {d["party"] for d in report["declarations"]} | {t["party"] for t in report["tracks"]}
    )
    return {p: PALETTE[i % len(PALETTE)] for i, p in enumerate(parties)}


def _map(report: Mapping[str, Any], colours: Mapping[str, str]) -> str:
    q = report["query"]
    local = Local(q["near"]["lon"], q["near"]["lat"])
    half = (q["radius_m"] + q["margin_m"]) * 1.05
    scale = SIZE / (2 * half)

    def px(x: float, y: float) -> str:
        return f"{(x + half) * scale:.1f},{(half - y) * scale:.1f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE:.0f}" height="{SIZE:.0f}" '
        f'viewBox="0 0 {SIZE:.0f} {SIZE:.0f}" role="img" aria-label="plans and tracks">',
        f'<rect width="{SIZE:.0f}" height="{SIZE:.0f}" fill="#f8f8f4"/>',
        f'<clipPath id="c"><rect width="{SIZE:.0f}" height="{SIZE:.0f}"/></clipPath>',
        '<g clip-path="url(#c)">',
        f'<circle cx="{SIZE / 2:.1f}" cy="{SIZE / 2:.1f}" r="{q["radius_m"] * scale:.1f}" '
        'fill="none" stroke="#888" stroke-dasharray="4 4"/>',
    ]
    for d in report["declarations"]:
        colour = colours[d["party"]]
        geom = local.geom(shape(d["versions"][-1]["feature"]["geometry"]))
        title = f"<title>plan {_e(d['party'])}/{_e(d['id'])} ({_e(d['state_at_incident'])})</title>"
        if geom.geom_type == "Polygon":
            pts = " ".join(px(x, y) for x, y in geom.exterior.coords)
            parts.append(
                f'<polygon points="{pts}" fill="{colour}" fill-opacity="0.08" stroke="{colour}" '
                f'stroke-dasharray="2 3">{title}</polygon>'
            )
        elif geom.geom_type == "Point":
            x, y = geom.coords[0]
            parts.append(
                f'<circle cx="{px(x, y).split(",")[0]}" cy="{px(x, y).split(",")[1]}" r="5" '
                f'fill="none" stroke="{colour}">{title}</circle>'
            )
        else:
            pts = " ".join(px(x, y) for x, y, *_ in geom.coords)
            parts.append(
                f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="6" '
                f'stroke-opacity="0.25">{title}</polyline>'
            )
    for t in report["tracks"]:
        colour = colours[t["party"]]
        pts = " ".join(px(p["x"], p["y"]) for p in t["points"])
        parts.append(
            f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="1.5">'
            f"<title>track {_e(t['party'])}/{_e(t['unit'])}</title></polyline>"
        )
        last = t["points"][-1]
        x, y = px(last["x"], last["y"]).split(",")
        parts.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{colour}"/>')
        parts.append(f'<text x="{x}" y="{y}" dx="5" dy="-5" font-size="11">{_e(t["unit"])}</text>')
    for c in report["closest_approaches"][:3]:
        a, b = c["positions"]
        pa, pb = px(a["x"], a["y"]).split(","), px(b["x"], b["y"]).split(",")
        parts.append(
            f'<line x1="{pa[0]}" y1="{pa[1]}" x2="{pb[0]}" y2="{pb[1]}" stroke="#000" '
            f'stroke-width="1" stroke-dasharray="1 2"><title>closest approach '
            f"{c['distance_m']} m at {_e(c['time'])}</title></line>"
        )
    parts.append(
        f'<text x="{SIZE / 2:.1f}" y="{SIZE / 2:.1f}" font-size="14" text-anchor="middle">+</text>'
    )
    bar = 1000.0 if half > 1500 else 100.0
    parts.append(
        f'<line x1="10" y1="{SIZE - 12:.0f}" x2="{10 + bar * scale:.1f}" y2="{SIZE - 12:.0f}" '
        f'stroke="#000" stroke-width="2"/><text x="10" y="{SIZE - 18:.0f}" font-size="11">'
        f"{bar:.0f} m</text>"
    )
    parts.append("</g></svg>")
    return "".join(parts)


def _timeline(report: Mapping[str, Any], colours: Mapping[str, str]) -> str:
    q = report["query"]
    start, end = parse_time(q["from"]), parse_time(q["to"])
    width, height = 900.0, 40.0 + 18 * len(report["tracks"]) + 18
    span = max(end - start, 1.0)

    def x(t: float) -> float:
        return 20 + (width - 40) * (min(max(t, start), end) - start) / span

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'role="img" aria-label="timeline">',
        f'<line x1="20" y1="20" x2="{width - 20:.0f}" y2="20" stroke="#444"/>',
        f'<text x="20" y="14" font-size="10">{_e(q["from"])}</text>',
        f'<text x="{width - 20:.0f}" y="14" font-size="10" text-anchor="end">{_e(q["to"])}</text>',
        f'<line x1="{x(parse_time(q["at"])):.1f}" y1="16" x2="{x(parse_time(q["at"])):.1f}" '
        f'y2="{height:.0f}" stroke="#000" stroke-dasharray="3 3"/>',
    ]
    for i, t in enumerate(report["tracks"]):
        y = 40 + 18 * i
        a, b = x(parse_time(t["first"])), x(parse_time(t["last"]))
        parts.append(
            f'<rect x="{a:.1f}" y="{y - 5}" width="{max(b - a, 1):.1f}" height="10" '
            f'fill="{colours[t["party"]]}" fill-opacity="0.5"/>'
            f'<text x="{a:.1f}" y="{y + 14}" font-size="9">{_e(t["party"])}/{_e(t["unit"])}</text>'
        )
    for a in report["alerts"]:
        if a.get("event") not in ("open", "close"):
            continue
        ax = x(parse_time(a["time"]))
        colour = "#c00" if a["event"] == "open" else "#080"
        parts.append(
            f'<line x1="{ax:.1f}" y1="20" x2="{ax:.1f}" y2="32" stroke="{colour}" '
            f'stroke-width="2"><title>{_e(a["time"])} {_e(a["event"])} {_e(a["type"])}</title>'
            "</line>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: Mapping[str, Any]) -> str:
    colours = _colours(report)
    q = report["query"]
    cp = report["checkpoint"]
    events: list[tuple[float, list[object]]] = []
    for d in report["declarations"]:
        for h in d["history"]:
            what = h.get("to") or h.get("answer") or h.get("state") or ""
            events.append(
                (
                    parse_time(h["at"]),
                    [h["at"], f"{d['party']}/{d['id']}", h["type"], h["by"], what, h["index"]],
                )
            )
    for a in report["alerts"]:
        events.append(
            (
                parse_time(a["time"]),
                [
                    a["time"],
                    a["alert"],
                    f"alert {a['event']} {a.get('type', '')}",
                    ", ".join(a.get("units", ())),
                    a.get("distance_m"),
                    a["index"],
                ],
            )
        )
    for m in report["messages"]:
        events.append(
            (
                parse_time(m["at"]),
                [m["at"], m["message"], "message", m["from"], m["text"], m["index"]],
            )
        )
    events.sort(key=lambda e: (e[0], str(e[1][-1])))
    legend = " ".join(f'<span style="color:{c}">&#9632; {_e(p)}</span>' for p, c in colours.items())
    sections = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Incident report {_e(q['at'])}</title>",
        "<style>body{font:14px sans-serif;margin:2em;max-width:1000px}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
        "padding:2px 6px;text-align:left;font-size:12px}pre{white-space:pre-wrap}</style>",
        "</head><body>",
        f"<h1>Incident report: {_e(q['at'])}</h1>",
        f"<p>Within {q['radius_m']:g} m of {q['near']['lat']}, {q['near']['lon']} (lat, lon), "
        f"from {_e(q['from'])} to {_e(q['to'])}. Reconstructed from the record alone; every row "
        "names the log entry it rests on, and report.json holds each entry's inclusion proof "
        f"against the signed checkpoint of {cp['tree_size']} entries "
        f"(origin {_e(cp['origin'])}).</p>",
        "<h2>Who was cleared</h2>",
        _table(
            ["declaration", "kind", "state at the incident", "cleared since", "versions"],
            [
                [
                    f"{d['party']}/{d['id']}",
                    d["kind"],
                    d["state_at_incident"],
                    d["cleared_since"],
                    ", ".join(str(v["version"]) for v in d["versions"]),
                ]
                for d in report["declarations"]
            ],
        ),
        "<h2>Map: plans (wide, pale) and tracks (thin)</h2>",
        f"<p>{legend}. Local azimuthal projection centred on the place; north up; dashed "
        "circle: the radius.</p>",
        _map(report, colours),
        "<h2>Who left its cleared plan</h2>",
        _table(
            ["source", "units", "declarations", "from", "to", "largest distance (m)", "entries"],
            [
                [
                    d["source"],
                    ", ".join(d["units"]),
                    ", ".join(d["declarations"]),
                    d["from"],
                    d["to"],
                    d["max_distance_m"],
                    ", ".join(map(str, d["entries"])),
                ]
                for d in report["deviations"]
            ],
        ),
        "<h2>Closest approaches</h2>",
        _table(
            ["units", "time", "distance (m)"],
            [
                [" – ".join(c["units"]), c["time"], c["distance_m"]]
                for c in report["closest_approaches"]
            ],
        ),
        "<h2>Timeline</h2>",
        _timeline(report, colours),
        _table(["time", "about", "what", "by / units", "detail", "entry"], [e[1] for e in events]),
        "<h2>Tracks</h2>",
        _table(
            ["unit", "first", "last", "reports", "movements"],
            [
                [
                    f"{t['party']}/{t['unit']}",
                    t["first"],
                    t["last"],
                    len(t["points"]),
                    ", ".join(t["movements"]),
                ]
                for t in report["tracks"]
            ],
        ),
        "<h2>Checkpoint</h2>",
        f"<pre>{_e(cp['note'])}</pre>",
        f"<p>{len(report['entries'])} entries cited; check them offline with "
        "<code>deconflict log verify-bundle DIR</code>.</p>",
        "</body></html>",
    ]
    return "\n".join(sections) + "\n"
