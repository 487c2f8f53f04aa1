"""Declaration files (GeoJSON FeatureCollection or Feature, SPEC section 2) to domain objects.

A file that breaks any rule is refused as a whole with every problem named; nothing from it
is returned. Sizes are checked before reading or parsing, so an over-size file costs nothing.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deconflict.errors import DeconflictError, InvalidDeclaration, LimitExceeded, NotFound, Problem
from deconflict.ingest.features import read_feature
from deconflict.ingest.fields import NonFinite, RuleBroken, describe, find_non_finite, number
from deconflict.ingest.limits import DEFAULT_LIMITS, Limits
from deconflict.model import Declaration, DeclarationKey, Policy

__all__ = [
    "DeclarationSet",
    "Limits",
    "Origin",
    "load_declarations",
    "merge_sets",
    "parse_declarations",
]

_COLLECTION_MEMBERS = frozenset({"type", "features", "policy", "bbox"})
"""Members of a FeatureCollection that are not metadata: RFC 7946's own, and our policy."""
_POLICY_MEMBERS = frozenset({"horizontal_m", "vertical_m"})
_EXPECTED = "a declaration file must be a GeoJSON FeatureCollection (or a single Feature)"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a declaration came from, so later problems (merging) can point at it."""

    source: str | None
    """The file or request."""
    index: int
    """Position of its feature in that file (0-based)."""


@dataclass(frozen=True)
class DeclarationSet:
    """Everything one valid declaration file (or several merged) holds."""

    declarations: tuple[Declaration, ...]
    """In file order."""
    policy: Policy | None
    """The file's separation minima; None when it has no "policy" member."""
    metadata: dict[str, Any]
    """Other foreign members of the FeatureCollection (name, description, sources...)."""
    source: str | None = None
    """The file or request it was read from, when known."""
    origins: tuple[Origin, ...] = field(default=())
    """One per declaration, same order; empty when unknown (built by hand)."""

    def origin(self, i: int) -> Origin:
        """Where declaration `i` came from."""
        return self.origins[i] if self.origins else Origin(self.source, i)


def parse_declarations(
    data: bytes | str | Mapping[str, Any],
    *,
    source: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> DeclarationSet:
    """Validate a declaration document (JSON text, bytes, or already-parsed object).

    Raises InvalidDeclaration listing every problem, or LimitExceeded for an input larger
    than `limits` allows. A str is measured in characters, which never exceed its UTF-8 bytes.
    """
    doc = _decode(data, source, limits) if isinstance(data, bytes | bytearray | str) else data
    if not isinstance(doc, Mapping) or doc.get("type") not in ("FeatureCollection", "Feature"):
        got = describe(doc.get("type")) if isinstance(doc, Mapping) else describe(doc)
        raise InvalidDeclaration(
            [Problem(None, None, f"{_EXPECTED}, but its type is {got}", source)]
        )
    problems: list[Problem] = []
    if doc["type"] == "Feature":
        features: list[object] = [doc]
        policy, metadata = None, {}
    else:
        raw = doc.get("features")
        if not isinstance(raw, list):
            rule = f'its "features" must be a list of Features, not {describe(raw)}'
            raise InvalidDeclaration([Problem(None, None, rule, source)])
        features = raw
        _check_count(len(features), source, limits)
        policy = _policy(doc.get("policy"), source, problems) if "policy" in doc else None
        metadata = {k: v for k, v in doc.items() if k not in _COLLECTION_MEMBERS}
        bad = find_non_finite(metadata, "")
        if bad:
            rule = (
                f"its member {bad.lstrip('.')} is NaN or Infinity, which JSON does not allow; "
                "use a number or null"
            )
            problems.append(Problem(None, None, rule, source))
    declarations: list[Declaration] = []
    origins: list[Origin] = []
    first_seen: dict[DeclarationKey, int] = {}
    for index, feature in enumerate(features):
        declaration, found = read_feature(feature, index, source=source, limits=limits)
        problems.extend(found)
        key = _raw_key(feature)
        if key is not None:
            if key in first_seen:
                rule = (
                    f"party {key.party!r} already declared id {key.id!r} in feature "
                    f"{first_seen[key]}; ids must be unique within a party"
                )
                problems.append(Problem(index, key.id, rule, source))
            else:
                first_seen[key] = index
        if declaration is not None:
            declarations.append(declaration)
            origins.append(Origin(source, index))
    if problems:
        raise InvalidDeclaration(problems)
    return DeclarationSet(tuple(declarations), policy, metadata, source, tuple(origins))


def load_declarations(path: str | Path, *, limits: Limits = DEFAULT_LIMITS) -> DeclarationSet:
    """Read and validate one declaration file. Its size is checked with os.stat before a
    byte is read, so an over-size file is refused at once with LimitExceeded."""
    source = str(path)
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise DeconflictError(f"{source} is a directory; give a declaration file")
        _check_size(info.st_size, source, limits)
        with open(path, "rb") as f:
            # Read one byte past the limit: a pipe or a growing file has no size in stat.
            data = f.read(limits.max_bytes + 1)
    except FileNotFoundError:
        raise NotFound(f"{source}: no such file; check the path") from None
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise DeconflictError(
            f"{source} cannot be read ({reason}); check it and its permissions"
        ) from None
    _check_size(len(data), source, limits)
    return parse_declarations(data, source=source, limits=limits)


def merge_sets(sets: Sequence[DeclarationSet]) -> DeclarationSet:
    """One set from several files. A (party, id) declared in two files, or policies that
    disagree, are InvalidDeclaration problems: which one is meant cannot be guessed."""
    if len(sets) == 1:
        return sets[0]
    problems: list[Problem] = []
    first_seen: dict[DeclarationKey, Origin] = {}
    declarations: list[Declaration] = []
    origins: list[Origin] = []
    policy: Policy | None = None
    policy_from: str | None = None
    for one in sets:
        if one.policy is not None:
            if policy is None:
                policy, policy_from = one.policy, one.source
            elif one.policy != policy:
                rule = (
                    f"its policy ({_show(one.policy)}) differs from the policy of "
                    f"{policy_from or 'an earlier file'} ({_show(policy)}); all files must agree"
                )
                problems.append(Problem(None, None, rule, one.source))
        for i, declaration in enumerate(one.declarations):
            origin = one.origin(i)
            earlier = first_seen.get(declaration.key)
            if earlier is not None:
                rule = (
                    f"party {declaration.party!r} already declared id {declaration.id!r} in "
                    f"{earlier.source or 'an earlier file'} (feature {earlier.index}); "
                    "ids must be unique within a party across all files"
                )
                problems.append(Problem(origin.index, declaration.id, rule, origin.source))
                continue
            first_seen[declaration.key] = origin
            declarations.append(declaration)
            origins.append(origin)
    if problems:
        raise InvalidDeclaration(problems)
    metadata = {"files": [{"source": one.source, "metadata": one.metadata} for one in sets]}
    return DeclarationSet(tuple(declarations), policy, metadata, None, tuple(origins))


def _decode(data: bytes | bytearray | str, source: str | None, limits: Limits) -> object:
    _check_size(len(data), source, limits)

    def refuse(rule: str) -> InvalidDeclaration:
        return InvalidDeclaration([Problem(None, None, rule, source)])

    try:
        # NaN and Infinity become markers every check refuses, so the feature they sit in
        # is named instead of the whole file failing with no location.
        return json.loads(data, parse_constant=NonFinite)
    except json.JSONDecodeError as e:
        raise refuse(
            f"not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}; {_EXPECTED}"
        ) from None
    except UnicodeDecodeError as e:
        raise refuse(
            f"not UTF-8 text (byte {e.start} cannot be decoded); save it as UTF-8"
        ) from None
    except ValueError as e:
        # Not a syntax error but still unreadable, e.g. an integer past Python's digit limit.
        raise refuse(f"not a readable JSON document ({e}); {_EXPECTED}") from None
    except RecursionError:
        raise refuse(f"nested too deeply to be a declaration file; {_EXPECTED}") from None


def _check_size(size: int, source: str | None, limits: Limits) -> None:
    if size > limits.max_bytes:
        raise LimitExceeded(
            f"{source or 'the input'} is {size:,} bytes, more than the limit "
            f"max_bytes = {limits.max_bytes:,}; split it into several files",
            details={"limit": "max_bytes", "value": limits.max_bytes, "size": size},
        )


def _check_count(count: int, source: str | None, limits: Limits) -> None:
    if count > limits.max_features:
        raise LimitExceeded(
            f"{source or 'the input'} has {count:,} features, more than the limit "
            f"max_features = {limits.max_features:,}; split it into several files",
            details={"limit": "max_features", "value": limits.max_features, "count": count},
        )


def _policy(value: object, source: str | None, problems: list[Problem]) -> Policy | None:
    def fail(rule: str) -> None:
        problems.append(Problem(None, None, rule, source))

    example = '{"horizontal_m": 1000, "vertical_m": 300}'
    if not isinstance(value, Mapping):
        fail(f"policy must be an object like {example}, not {describe(value)}")
        return None
    unknown = sorted(str(k) for k in value.keys() - _POLICY_MEMBERS)
    if unknown:
        fail(f"policy has unknown members {', '.join(unknown)}; it takes only {example}")
    given: dict[str, float] = {}
    try:
        if value.get("horizontal_m") is not None:
            given["horizontal_m"] = number(value["horizontal_m"], "policy horizontal_m", above=0)
        if value.get("vertical_m") is not None:
            given["vertical_m"] = number(value["vertical_m"], "policy vertical_m", minimum=0)
        policy = Policy(**given)
    except RuleBroken as broken:
        fail(broken.rule)
        return None
    except ValueError as e:
        fail(str(e))
        return None
    return None if unknown else policy


def _raw_key(feature: object) -> DeclarationKey | None:
    """(party, id) as written, even when the feature breaks other rules, so duplicates are
    reported in the same pass."""
    if not isinstance(feature, Mapping) or not isinstance(feature.get("properties"), Mapping):
        return None
    props = feature["properties"]
    ident = props["id"] if props.get("id") is not None else feature.get("id")
    party = props.get("party")
    if isinstance(ident, str) and isinstance(party, str):
        return DeclarationKey(party, ident)
    return None


def _show(policy: Policy) -> str:
    return f"horizontal_m {policy.horizontal_m:g}, vertical_m {policy.vertical_m:g}"
