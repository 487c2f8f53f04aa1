"""Inputs to domain objects: declaration files (GeoJSON) now, position feeds later.

Validates everything at the door; nothing downstream re-checks, so nothing here may let a
half-valid object through.
"""

from deconflict.ingest.geojson import (
    DeclarationSet,
    Limits,
    Origin,
    load_declarations,
    merge_sets,
    parse_declarations,
)

__all__ = [
    "DeclarationSet",
    "Limits",
    "Origin",
    "load_declarations",
    "merge_sets",
    "parse_declarations",
]
