"""/v1/log: the verifiable record (SPEC §6): checkpoints, proofs, entries, disclosure,
witness cosignatures. Every party may read every entry (they hold only what all may see);
committed contents are opened only to those SPEC §4 allows."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from deconflict.api.deps import JSON_BODY, MAX_INT, body, call, caller, service
from deconflict.errors import Forbidden, InvalidRequest, NotFound
from deconflict.record.note import NoteSigner
from deconflict.service import Principal, Service
from deconflict.service import record as r
from deconflict.service.declarations import read_json

router = APIRouter(prefix="/v1/log", tags=["record"])
Who = Annotated[Principal, Depends(caller)]
Svc = Annotated[Service, Depends(service)]
Index = Annotated[int, Path(ge=0, le=MAX_INT)]
Size = Annotated[int | None, Query(ge=1, le=MAX_INT)]
ENTRIES_PAGE = 5000
"""Most entries one page of /v1/log/entries holds."""


def _signer(request: Request) -> NoteSigner:
    signer: NoteSigner | None = request.app.state.service.log_signer
    if signer is None:
        raise NotFound("This service has no log key, so it signs no checkpoints.")
    return signer


@router.get("/key", summary="The log's public key (C2SP verifier key) and origin")
async def key(request: Request, who: Who) -> dict[str, Any]:
    signer = _signer(request)
    return {"origin": signer.name, "verifier_key": str(signer.verifier)}


@router.get("/checkpoint", summary="The latest signed checkpoint (C2SP signed note)")
async def checkpoint(svc: Svc, who: Who) -> dict[str, Any]:
    return await call(r.latest, svc)


@router.post(
    "/checkpoint",
    status_code=201,
    summary="Sign a checkpoint of the current log now (operator)",
)
async def checkpoint_now(request: Request, svc: Svc, who: Who) -> dict[str, Any]:
    if not who.is_operator:
        raise Forbidden("Only the operator asks for a checkpoint out of turn.")
    stored = await call(r.checkpoint_now, svc, _signer(request))
    return r.checkpoint_view(stored)


@router.get("/checkpoints", summary="Signed checkpoints in order, a page at a time")
async def checkpoints(
    svc: Svc,
    who: Who,
    after: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    def page() -> dict[str, Any]:
        from deconflict.store.log import LogReader

        with svc.read() as repo:
            reader = LogReader(repo.conn)
            found = reader.checkpoints(after, limit)
            return {
                "checkpoints": [
                    {
                        **r.checkpoint_view(c),
                        "cosigned_by": [p for p, _, _ in reader.cosignatures(c.checkpoint_id)],
                    }
                    for c in found
                ]
            }

    return await call(page)


@router.post(
    "/checkpoints/{checkpoint_id}/cosign",
    status_code=201,
    openapi_extra=JSON_BODY,
    summary='Witness a checkpoint: {"note": the checkpoint with your signature line}',
)
async def cosign(
    checkpoint_id: Index,
    svc: Svc,
    who: Who,
    raw: Annotated[bytes, Depends(body)],
) -> dict[str, Any]:
    doc = read_json(svc, raw, "cosignature")
    note = doc.get("note") if isinstance(doc, dict) else None
    if not isinstance(note, str) or len(note) > 65536:
        raise InvalidRequest('The body is {"note": "<signed checkpoint text>"} (at most 64 KiB).')
    return await call(r.cosign, svc, who, checkpoint_id, note)


@router.get("/entries", summary="Entries from `start`, as their exact canonical JSON text")
async def entries(
    svc: Svc,
    who: Who,
    # start + limit must fit the store's integers too: the page reads [start, start + limit).
    start: Annotated[int, Query(ge=0, le=MAX_INT - ENTRIES_PAGE)] = 0,
    limit: Annotated[int, Query(ge=1, le=ENTRIES_PAGE)] = 1000,
) -> dict[str, Any]:
    return await call(r.entries_page, svc, start, limit)


@router.get(
    "/entries/{index}",
    summary="One entry, with the committed contents you may open (and their salts)",
)
async def entry(index: Index, svc: Svc, who: Who) -> dict[str, Any]:
    return await call(r.disclose, svc, who, index)


@router.get("/entries/{index}/proof", summary="Inclusion proof of an entry (RFC 9162)")
async def inclusion(index: Index, svc: Svc, who: Who, tree_size: Size = None) -> dict[str, Any]:
    return await call(r.inclusion, svc, index, tree_size)


@router.get("/consistency", summary="Consistency proof between two tree sizes (RFC 9162)")
async def consistency(
    svc: Svc,
    who: Who,
    old_size: Annotated[int, Query(ge=0, le=MAX_INT)],
    new_size: Size = None,
) -> dict[str, Any]:
    return await call(r.consistency, svc, old_size, new_size)
