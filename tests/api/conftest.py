"""Fixtures: a real server per test module, on a fresh SQLite file."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.server import Server


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("srv") / "deconflict.sqlite").start()
    try:
        yield s
    finally:
        s.close()
