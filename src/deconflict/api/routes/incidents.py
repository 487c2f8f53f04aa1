"""/v1/incidents: the incident procedure between two parties and the operator
(docs/record.md, "Incidents")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from deconflict.api.deps import JSON_BODY, MAX_INT, SIGNATURE_HEADER, body, call, caller, service
from deconflict.service import Principal, Service
from deconflict.service import incidents as inc
from deconflict.service.declarations import read_json

router = APIRouter(prefix="/v1", tags=["incidents"])
Who = Annotated[Principal, Depends(caller)]
Svc = Annotated[Service, Depends(service)]
IncidentId = Annotated[str, Path(max_length=64)]


@router.post(
    "/incidents",
    status_code=201,
    openapi_extra=JSON_BODY,
    summary='File an incident: {"against", "at", "place", "radius_m", "category", '
    '"description", "attachments"}',
)
async def file(
    svc: Svc,
    who: Who,
    raw: Annotated[bytes, Depends(body)],
    signature: str | None = SIGNATURE_HEADER,
) -> dict[str, Any]:
    doc = read_json(svc, raw, "incident")
    out: dict[str, Any] = await call(inc.file, svc, who, doc, signature=signature)
    return out


@router.get("/incidents", summary="Incidents filed by you or against you (operator: all)")
async def listing(
    svc: Svc,
    who: Who,
    after: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
) -> dict[str, Any]:
    return await call(inc.listing, svc, who, after, limit)


@router.get("/incidents/{incident_id}", summary="One incident whole (its parties, the operator)")
async def get(incident_id: IncidentId, svc: Svc, who: Who) -> dict[str, Any]:
    return await call(inc.get, svc, who, incident_id)


@router.get(
    "/incidents/{incident_id}/attachments/{n}",
    summary="One attachment's bytes (its parties, the operator)",
    response_class=Response,
)
async def attachment(
    incident_id: IncidentId,
    n: Annotated[int, Path(ge=0, le=inc.MAX_ATTACHMENTS)],
    svc: Svc,
    who: Who,
) -> Response:
    a = await call(inc.attachment, svc, who, incident_id, n)
    return Response(
        a["content"],
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": "attachment",
            "X-Content-Type-Options": "nosniff",
            "X-Media-Type": a["media_type"],
            "Digest-SHA256": a["sha256"],
        },
    )


@router.post(
    "/incidents/{incident_id}/accounts",
    status_code=201,
    openapi_extra=JSON_BODY,
    summary='Add your account: {"text"} (either party, as often as needed)',
)
async def account(
    incident_id: IncidentId,
    svc: Svc,
    who: Who,
    raw: Annotated[bytes, Depends(body)],
    signature: str | None = SIGNATURE_HEADER,
) -> dict[str, Any]:
    doc = read_json(svc, raw, "account")
    out: dict[str, Any] = await call(
        inc.add_account, svc, who, incident_id, doc, signature=signature
    )
    return out


@router.post(
    "/incidents/{incident_id}/finding",
    openapi_extra=JSON_BODY,
    summary='Record a finding: {"finding", "outcome": "agreed"|"disagreed"} (the operator; '
    "or both parties, the second posting the same)",
)
async def finding(
    incident_id: IncidentId,
    svc: Svc,
    who: Who,
    raw: Annotated[bytes, Depends(body)],
    signature: str | None = SIGNATURE_HEADER,
) -> dict[str, Any]:
    doc = read_json(svc, raw, "finding")
    out: dict[str, Any] = await call(
        inc.record_finding, svc, who, incident_id, doc, signature=signature
    )
    return out


@router.post(
    "/incidents/{incident_id}/evidence",
    status_code=201,
    summary="Attach the evidence bundle: the record reconstructed at the incident's time and "
    "place (its parties, the operator; until the finding)",
)
async def attach_evidence(incident_id: IncidentId, svc: Svc, who: Who) -> dict[str, Any]:
    out: dict[str, Any] = await call(inc.attach_evidence, svc, who, incident_id)
    return out


@router.get(
    "/incidents/{incident_id}/evidence",
    summary="The evidence bundle's report.json, as attached (its parties, the operator)",
    response_class=Response,
)
async def evidence(
    incident_id: IncidentId,
    svc: Svc,
    who: Who,
    n: Annotated[int | None, Query(ge=0, le=inc.MAX_EVIDENCE)] = None,
) -> Response:
    e = await call(inc.evidence, svc, who, incident_id, n)
    return Response(
        e["report"],
        media_type="application/json",
        headers={
            "Digest-SHA256": e["sha256"],
            "X-Evidence": str(e["n"]),
            "X-Checkpoint": str(e["checkpoint"]["id"]),
            "X-Log-Entry": str(e["entry"]),
        },
    )
