"""Service settings from a TOML file, so an operator can change every documented default
(`deconflict serve --config FILE`). Unknown names are refused, never ignored; so is a value
of the wrong type, with one sentence naming the setting."""

from __future__ import annotations

import dataclasses
import math
import tomllib
import typing
from pathlib import Path
from typing import Any

from deconflict.engine.monitor import MonitorSettings
from deconflict.errors import InvalidRequest
from deconflict.ingest.limits import Limits
from deconflict.model.clearance import NoticePolicy
from deconflict.model.policy import Policy
from deconflict.service.core import Settings

SECTIONS: dict[str, type] = {
    "policy": Policy,
    "notice": NoticePolicy,
    "limits": Limits,
    "monitor": MonitorSettings,
}
"""TOML tables and the settings object each one fills; plain keys go to `Settings`."""

MAY_BE_ZERO = frozenset({"max_webhooks", "message_ack_min_s", "cot_tcp_port", "cot_udp_port"})
"""Plain settings for which 0 makes sense (no webhooks at all; no least acknowledgement
window); every other plain number must be above 0, and none may be negative."""


def _typed(cls: type, name: str, value: Any, where: str) -> Any:
    """`value` checked against the annotation of field `name`: a whole number for `int`,
    a finite number for `float` (TOML's 1 counts as 1.0); true/false is neither."""
    hint = typing.get_type_hints(cls).get(name)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidRequest(f"{where}: {name} must be a whole number, not {value!r:.40}.")
    elif hint is float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise InvalidRequest(f"{where}: {name} must be a finite number, not {value!r:.40}.")
        return float(value)
    elif hint is str and not isinstance(value, str):
        raise InvalidRequest(f"{where}: {name} must be a string, not {value!r:.40}.")
    return value


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise InvalidRequest(
            f"{where}: unknown setting {unknown[0]!r}; "
            f"the known ones are {', '.join(sorted(names))}."
        )
    typed = {name: _typed(cls, name, value, where) for name, value in values.items()}
    try:
        return cls(**typed)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"{where}: {exc}.") from None


def _check_monitor(m: MonitorSettings, where: str) -> None:
    """Every [monitor] number is above 0 (cell_speed_mps may be 0: classes decide)."""
    for field in dataclasses.fields(MonitorSettings):
        value = getattr(m, field.name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if value < 0 or (value == 0 and field.name != "cell_speed_mps"):
            least = "0 or more" if field.name == "cell_speed_mps" else "above 0"
            raise InvalidRequest(f"{where} [monitor]: {field.name} must be {least}, not {value!r}.")


def _check_settings(s: Settings, where: str) -> None:
    """Ranges of the plain settings (the tables check their own)."""
    _check_monitor(s.monitor, where)
    hints = typing.get_type_hints(Settings)
    for field in dataclasses.fields(Settings):
        if hints[field.name] not in (int, float):
            continue
        name, value = field.name, getattr(s, field.name)
        if value < 0 or (value == 0 and name not in MAY_BE_ZERO):
            least = "0 or more" if name in MAY_BE_ZERO else "above 0"
            raise InvalidRequest(f"{where}: {name} must be {least}, not {value!r}.")
    if not s.message_ack_min_s <= s.message_ack_default_s <= s.message_ack_max_s:
        raise InvalidRequest(
            f"{where}: message_ack_default_s ({s.message_ack_default_s:g}) must be from "
            f"message_ack_min_s ({s.message_ack_min_s:g}) to "
            f"message_ack_max_s ({s.message_ack_max_s:g})."
        )


def load_settings(path: str | Path) -> Settings:
    """Settings from a TOML file; defaults for whatever it does not name."""
    where = str(path)
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidRequest(f"{where} cannot be read ({exc.strerror}).") from None
    except UnicodeDecodeError:
        raise InvalidRequest(f"{where} is not a TOML file (it is not UTF-8 text).") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidRequest(f"{where} is not valid TOML ({exc}).") from None
    parts: dict[str, Any] = {}
    plain: dict[str, Any] = {}
    for key, value in doc.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise InvalidRequest(f"{where}: [{key}] must be a table.")
            parts[key] = _build(SECTIONS[key], value, f"{where} [{key}]")
        elif isinstance(value, dict):
            raise InvalidRequest(
                f"{where}: unknown table [{key}]; the known tables are "
                f"{', '.join(sorted(SECTIONS))}."
            )
        else:
            plain[key] = value
    settings: Settings = _build(Settings, {**plain, **parts}, where)
    _check_settings(settings, where)
    return settings
