"""Bundled example scenarios: declaration files (SPEC section 2) built from public reporting.

Each file says in its own "description", "sources" and "notes" what happened, where the
facts come from and which parts (routes, exact times) are reconstructed.
"""

from __future__ import annotations

import pathlib
from importlib import resources

from deconflict.errors import NotFound

SCENARIOS: dict[str, str] = {
    "al-malikiyah-2020": "al-malikiyah-2020.geojson",
    "aleppo-2016": "aleppo-2016.geojson",
}
"""Scenario name -> file name inside this package."""


def list_scenarios() -> list[str]:
    """The names of the bundled scenarios, sorted."""
    return sorted(SCENARIOS)


def scenario_path(name: str) -> pathlib.Path:
    """The file of the bundled scenario `name`; NotFound naming the known ones otherwise."""
    file_name = SCENARIOS.get(name)
    if file_name is None:
        known = ", ".join(list_scenarios())
        raise NotFound(f"no bundled scenario named {name!r}; the known scenarios are: {known}")
    resource = resources.files(__package__).joinpath(file_name)
    # The package is installed as plain files (wheel or source tree), so this is a real path.
    return pathlib.Path(str(resource))


__all__ = ["SCENARIOS", "list_scenarios", "scenario_path"]
