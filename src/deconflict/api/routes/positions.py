"""/v1/positions, /v1/owntracks, /v1/osmand: position reports of the caller's units;
/v1/tracks: the recent reports the caller may see; and /v1/alerts: the live alerts that
involve the caller (SPEC section 5, docs/live.md)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from deconflict.api.deps import authenticated, body, call, caller, fast_caller, service
from deconflict.errors import InvalidRequest
from deconflict.ingest.positions import parse_osmand, parse_owntracks
from deconflict.ingest.positions.osmand import SPEED_UNITS
from deconflict.service import Principal, Service
from deconflict.service.live import live, parse_batch
from deconflict.service.tracks import tracks as read_tracks

router = APIRouter(prefix="/v1", tags=["live"])
Who = Annotated[Principal, Depends(caller)]
Svc = Annotated[Service, Depends(service)]
Raw = Annotated[bytes, Depends(body)]

BATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A JSON array of position reports of the caller's units.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["unit", "time", "lat", "lon"],
                        "properties": {
                            "unit": {"type": "string"},
                            "time": {"type": ["number", "string"]},
                            "lat": {"type": "number"},
                            "lon": {"type": "number"},
                            "alt_m": {"type": ["number", "null"]},
                            "speed_mps": {"type": ["number", "null"]},
                            "course_deg": {"type": ["number", "null"]},
                            "movement": {"type": ["string", "null"]},
                        },
                    },
                }
            }
        },
    }
}
OWNTRACKS_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "One OwnTracks message (HTTP mode); only `_type: location` is a report.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


@router.post(
    "/positions",
    openapi_extra=BATCH_BODY,
    summary="Report positions of your units: a JSON array of {unit, time, lat, lon, ...}",
)
async def positions(svc: Svc, who: Who, raw: Raw) -> dict[str, Any]:
    return await call(_batch, svc, who, raw)


def _batch(svc: Service, who: Principal, raw: bytes) -> dict[str, Any]:
    """Check a batch and apply it: in one thread-pool hop (the JSON parse and column check
    of a batch of 500 take a few ms, which on the event loop held up every other request)."""
    batch = parse_batch(svc, raw, who.party)
    return live(svc).ingest(who, batch.reports, batch.rows, batch.columns)


fast = APIRouter(prefix="/v1", include_in_schema=False)
"""Included before every other router: POST /v1/positions (the live path's hot request,
documented by `positions`) found at the first try instead of after the ~30 routes FastAPI
tries first, without per-parameter dependency solving, and on SQLite with the caller
authenticated on the event loop (a WAL read, ~0.2 ms, less than a thread-pool hop): one hop
per batch instead of two. The same checks in the same order (token, body limit, batch) and
the same answer bytes as `positions` (tests/api/test_positions_route.py)."""


@fast.post("/positions")
async def positions_fast(request: Request) -> Response:
    svc, who = await fast_caller(request)
    raw = await body(request)
    return JSONResponse(await call(_batch, svc, who, raw))


@router.post(
    "/owntracks",
    openapi_extra=OWNTRACKS_BODY,
    summary="OwnTracks HTTP mode: one location message; answers [] as OwnTracks expects",
)
async def owntracks(
    svc: Svc,
    who: Who,
    raw: Raw,
    user: Annotated[str | None, Header(alias="X-Limit-U", max_length=64)] = None,
    device: Annotated[str | None, Header(alias="X-Limit-D", max_length=64)] = None,
) -> list[Any]:
    unit = f"{user}/{device}" if user and device else None
    found = parse_owntracks(raw, party=who.party, unit=unit, limits=svc.settings.limits)
    if found is not None:
        await call(live(svc).ingest, who, [found])
    return []


async def _osmand(request: Request, svc: Service, raw: bytes, authorization: str | None) -> Any:
    query: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        query.setdefault(name, []).append(value)
    if raw:
        try:
            form = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=100)
        except (UnicodeDecodeError, ValueError):
            raise InvalidRequest("The body must be a URL-encoded form of the query.") from None
        for name, values in form.items():
            query.setdefault(name, []).extend(values)
    tokens = query.pop("token", [])
    if authorization is None and tokens:
        authorization = f"Bearer {tokens[0]}"
    who = await call(authenticated, svc, authorization)
    request.state.party = who.party
    unit_param = query.pop("speed_unit", ["kn"])[0]
    if unit_param not in SPEED_UNITS:
        raise InvalidRequest(f"speed_unit must be one of {', '.join(SPEED_UNITS)}.")
    found = parse_osmand(
        query,
        party=who.party,
        speed_unit=unit_param,  # type: ignore[arg-type]
        limits=svc.settings.limits,
    )
    out: dict[str, Any] = await call(live(svc).ingest, who, [found])
    return {"accepted": out["accepted"]}


OSMAND_DOC = (
    "OsmAnd / Traccar query protocol (`?id=&lat=&lon=&timestamp=&speed=&bearing=&altitude=`)."
    " The one endpoint that also takes the token as the query parameter `token=` (the apps "
    "can only send a URL); it is never logged."
)


@router.get("/osmand", summary="OsmAnd / Traccar position query", description=OSMAND_DOC)
async def osmand_get(
    request: Request,
    svc: Svc,
    token: Annotated[str | None, Query(description="The party's API token.")] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> Any:
    return await _osmand(request, svc, b"", authorization)


@router.post("/osmand", summary="OsmAnd / Traccar position query", description=OSMAND_DOC)
async def osmand_post(
    request: Request,
    svc: Svc,
    raw: Raw,
    token: Annotated[str | None, Query(description="The party's API token.")] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> Any:
    return await _osmand(request, svc, raw, authorization)


TRACKS_DOC = (
    "Reports of your own units, and of another party's unit only while an open alert that"
    " involves you names it (from the alert's opening on), grouped by unit; at most the"
    " last 10 minutes, 500 units, 120 reports per unit (docs/api.md)."
)


@router.get("/tracks", summary="Recent live tracks you may see", description=TRACKS_DOC)
async def tracks(
    svc: Svc,
    who: Who,
    since: Annotated[
        str | None,
        Query(
            max_length=40,
            description="Reports accepted since then: epoch seconds or ISO 8601 with a zone;"
            " default the last 10 minutes.",
        ),
    ] = None,
) -> dict[str, Any]:
    return await call(read_tracks, svc, who, since)


@router.get("/alerts", summary="Open live alerts that involve you")
async def alerts(svc: Svc, who: Who) -> dict[str, Any]:
    return await call(live(svc).open_alerts, who)


@router.post("/alerts/{alert_id}/acknowledge", summary="Acknowledge an alert that involves you")
async def acknowledge(
    svc: Svc, who: Who, alert_id: Annotated[str, Path(max_length=128)]
) -> dict[str, Any]:
    return await call(live(svc).acknowledge, who, alert_id)
