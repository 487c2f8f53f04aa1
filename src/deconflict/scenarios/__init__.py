"""Bundled example scenarios: declaration files (SPEC section 2) built from public reporting.

Each file says in its own "description", "sources" and "notes" what happened, where the
facts come from and which parts (routes, exact times) are reconstructed.
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from importlib import resources

from deconflict.errors import NotFound
from deconflict.model.declarations import Declaration, Movement

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


def shifted(decls: Sequence[Declaration], start_s: float) -> list[Declaration]:
    """The declarations moved in time so the earliest one starts at `start_s`: a demo plays
    a past scenario as a plan for the coming days. Open-ended times stay open."""
    starts = [d.start_s for d in decls if math.isfinite(d.start_s)]
    if not starts:
        return list(decls)
    dt = start_s - min(starts)
    out: list[Declaration] = []
    for d in decls:
        if isinstance(d, Movement):
            out.append(replace(d, times_s=tuple(t + dt for t in d.times_s)))
        else:
            out.append(
                replace(
                    d,
                    valid_from_s=None if d.valid_from_s is None else d.valid_from_s + dt,
                    valid_to_s=None if d.valid_to_s is None else d.valid_to_s + dt,
                )
            )
    return out


def party_kinds(metadata: Mapping[str, object]) -> dict[str, str]:
    """The scenario's `parties` member: party name -> kind (force, humanitarian, observer)."""
    found = metadata.get("parties")
    if not isinstance(found, dict):
        return {}
    return {str(k): str(v) for k, v in found.items()}


__all__ = ["SCENARIOS", "list_scenarios", "party_kinds", "scenario_path", "shifted"]
