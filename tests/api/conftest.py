"""Fixtures: a real server per test module, on a fresh SQLite file and again on a fresh
PostgreSQL database (every test here runs against both stores: `store`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.server import Server
from stores import STORES, postgres_or_skip


@pytest.fixture(scope="module", params=STORES)
def store(request: pytest.FixtureRequest) -> str:
    """The store the module's servers run on; PostgreSQL skips when it is unreachable
    (and fails under CI=true)."""
    name = str(request.param)
    if name == "postgresql":
        postgres_or_skip()
    return name


@pytest.fixture
def server(store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("srv") / "deconflict.sqlite", store=store).start()
    try:
        yield s
    finally:
        s.close()
