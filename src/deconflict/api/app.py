"""The FastAPI application: routes under /v1, OpenAPI at /openapi.json, one error shape,
and the service's background workers (deadlines, webhooks) and position sources (CoT, MQTT,
when the settings turn them on) started and stopped with it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI

from deconflict import __version__ as version
from deconflict import web
from deconflict.api import errors
from deconflict.api.fastpath import FastReads
from deconflict.api.routes import (
    declarations,
    events,
    incidents,
    messages,
    parties,
    positions,
    record,
    webhooks,
)
from deconflict.service import Service
from deconflict.service.follow import Follower
from deconflict.service.live import Ticker
from deconflict.service.record import Checkpointer
from deconflict.service.scheduler import Scheduler
from deconflict.service.sources import Sources
from deconflict.service.webhooks import Deliverer

DESCRIPTION = """Deconfliction protocols as an API. Every call needs `Authorization: Bearer
<token>`. Errors are `{"error": {"code", "message", "details"}}`. To acknowledge a
declaration is to confirm receipt and raise no objection; it never grants permission or
guarantees safety."""


def create_app(svc: Service, *, workers: bool = True, listeners: bool = True) -> FastAPI:
    """The app over `svc`. With `workers`, the deadline scheduler and the webhook
    deliverer run while the app runs; with `listeners` too, the CoT and MQTT sources the
    settings turn on (one process of several listens: the first)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.closing = asyncio.Event()
        anyio.to_thread.current_default_thread_limiter().total_tokens = svc.settings.api_threads
        threads: list[Any] = (
            [Scheduler(svc), Deliverer(svc), Ticker(svc), Follower(svc)] if workers else []
        )
        if workers and svc.log_signer is not None:
            threads.append(Checkpointer(svc, svc.log_signer, svc.settings.checkpoint_interval_s))
        bus = None
        if workers and svc.settings.bus_url:
            from deconflict.service.bus import NatsBus, Relay

            bus = NatsBus(svc.settings.bus_url, svc.settings.log_origin)
            woken = [t for t in threads if isinstance(t, Follower | Deliverer)]

            def wake() -> None:
                for t in woken:
                    t.poke()

            bus.start(on_wake=wake)
            svc.bus = bus
            threads.append(Relay(svc, bus))
        for t in threads:
            t.start()
        sources = Sources(svc) if workers and listeners else None
        app.state.sources = sources
        try:
            if sources is not None:
                await sources.start()
            yield
        finally:
            app.state.closing.set()
            if sources is not None:
                await sources.stop()
            for t in threads:
                t.stop()
            if bus is not None:
                svc.bus = None
                bus.stop()

    app = FastAPI(
        title="deconflict",
        version=version,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.service = svc
    app.state.closing = asyncio.Event()
    errors.install(app)
    app.add_middleware(FastReads, svc=svc)  # reads of a declaration, before FastAPI
    app.include_router(declarations.fast)  # first: the hot read, found at once
    app.include_router(positions.fast)  # and the live path's position batches
    for module in (
        parties,
        declarations,
        messages,
        incidents,
        events,
        webhooks,
        record,
        positions,
    ):
        app.include_router(module.router)

    web.install(app, svc.settings.ui_tile_url)  # the map at /, its assets under /ui

    @app.get("/health", tags=["health"], summary="Liveness (no token needed, says nothing else)")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
