"""The stores tests run against: SQLite files, and fresh databases on the PostgreSQL
server of the machine (`DECONFLICT_TEST_PG`, default the local server with trust auth).
Tests that need PostgreSQL skip when it is unreachable, except under CI=true."""

from __future__ import annotations

import os

import pytest

PG_ADMIN = os.environ.get("DECONFLICT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
"""A PostgreSQL server where the tests may create and drop databases."""
STORES = ("sqlite", "postgresql")
"""The stores the service tests run against (both, as `store` parameters)."""
_made: list[str] = []


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def postgres_or_skip() -> None:
    """Skip when PostgreSQL cannot be reached, except under CI, where that is a failure."""
    import psycopg

    try:
        psycopg.connect(PG_ADMIN, connect_timeout=3).close()
    except psycopg.Error as exc:
        if in_ci():
            raise RuntimeError(
                f"CI=true but PostgreSQL at {PG_ADMIN} is unreachable: {exc}"
            ) from exc
        pytest.skip(f"PostgreSQL at {PG_ADMIN} is unreachable ({type(exc).__name__})")


def fresh_postgres(stem: str) -> str:
    """The URL of a new empty database on the test server (dropped again at exit)."""
    import psycopg

    postgres_or_skip()
    name = f"dc_test_{stem}_{os.getpid()}_{len(_made)}".lower()
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    _made.append(name)
    base = PG_ADMIN.rsplit("/", 1)[0]
    return f"{base}/{name}"


def drop_postgres_databases() -> None:
    import psycopg

    if not _made:
        return
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for name in _made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _made.clear()


NATS_URL = os.environ.get("DECONFLICT_TEST_NATS", "nats://127.0.0.1:4222")
"""A NATS server with JetStream for the bus tests."""


def nats_or_skip() -> None:
    """Skip when NATS (with JetStream) cannot be reached, except under CI, where that is a
    failure."""
    from deconflict.errors import DeconflictError
    from deconflict.service.bus import check_bus

    try:
        check_bus(NATS_URL, timeout_s=3.0)
    except DeconflictError as exc:
        if in_ci():
            raise RuntimeError(f"CI=true but NATS at {NATS_URL} is unreachable: {exc}") from exc
        pytest.skip(f"NATS at {NATS_URL} is unreachable")


def delete_streams(origin: str) -> None:
    """Delete the bus's feeds of a deployment with log origin `origin` (service/bus.py)."""
    import asyncio

    from deconflict.service.bus import streams_of

    streams = streams_of(origin).values()

    async def delete() -> None:
        import nats

        nc = await nats.connect(NATS_URL, max_reconnect_attempts=0, allow_reconnect=False)
        try:
            js = nc.jetstream()
            for stream in streams:
                try:
                    await js.delete_stream(stream)
                except Exception:  # never made, or gone already
                    pass
        finally:
            await nc.close()

    try:
        asyncio.run(delete())
    except Exception:  # NATS away: nothing to clean
        pass
