"""Session-wide test settings: hypothesis profiles.

`dev` (default) keeps a local run quick, random, and remembers failures in .hypothesis/;
`ci` (selected when CI=true) runs 12.5x the examples, derandomized so a CI run is
reproducible from its commit alone (hypothesis does this by itself on CI; we say it here).
HYPOTHESIS_PROFILE=name picks one explicitly. Property tests take a share of
`max_examples` (tests/engine/test_properties.py: `examples`).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from stores import drop_postgres_databases

settings.register_profile("dev", max_examples=60, deadline=None, print_blob=True)
settings.register_profile(
    "ci", max_examples=750, deadline=None, print_blob=True, derandomize=True, database=None
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE")
    or ("ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "dev")
)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Drop the PostgreSQL databases the tests made (tests/stores.py)."""
    drop_postgres_databases()
