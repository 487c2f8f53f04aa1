"""Service settings from a TOML file, so an operator can change every documented default
(`deconflict serve --config FILE`). Unknown names are refused, never ignored."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from deconflict.errors import InvalidRequest
from deconflict.ingest.limits import Limits
from deconflict.model.clearance import NoticePolicy
from deconflict.model.policy import Policy
from deconflict.service.core import Settings

SECTIONS: dict[str, type] = {"policy": Policy, "notice": NoticePolicy, "limits": Limits}
"""TOML tables and the settings object each one fills; plain keys go to `Settings`."""


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise InvalidRequest(
            f"{where}: unknown setting {unknown[0]!r}; "
            f"the known ones are {', '.join(sorted(names))}."
        )
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"{where}: {exc}.") from None


def load_settings(path: str | Path) -> Settings:
    """Settings from a TOML file; defaults for whatever it does not name."""
    where = str(path)
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidRequest(f"{where} cannot be read ({exc.strerror}).") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidRequest(f"{where} is not valid TOML ({exc}).") from None
    parts: dict[str, Any] = {}
    plain: dict[str, Any] = {}
    for key, value in doc.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise InvalidRequest(f"{where}: [{key}] must be a table.")
            parts[key] = _build(SECTIONS[key], value, f"{where} [{key}]")
        else:
            plain[key] = value
    return _build(Settings, {**plain, **parts}, where)  # type: ignore[no-any-return]
