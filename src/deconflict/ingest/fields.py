"""Small validators for the values inside a declaration: numbers, strings, lookups.

Each returns the clean value or raises RuleBroken with one sentence an operator can act
on (what is wrong, what is expected). Never coerces: a boolean is not a number, "5" is not 5.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypeGuard


class RuleBroken(Exception):
    """One rule of SPEC section 2 broken; `rule` is the sentence shown to the operator."""

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


class NonFinite:
    """Stands for a NaN / Infinity token in the JSON text. Python's json module would turn
    those into floats that pass type checks; a marker makes every check refuse them."""

    __slots__ = ("token",)

    def __init__(self, token: str) -> None:
        self.token = token

    def __repr__(self) -> str:
        return self.token


def describe(value: object) -> str:
    """How a JSON value reads in a message: 'a boolean', 'the text "abc"', 'NaN'."""
    if value is None:
        return "null"
    if isinstance(value, NonFinite):
        return value.token
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, int) and abs(value) >= 10**24:
        return f"a number with {len(str(abs(value)))} digits"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the text {shown!r}"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def shown(value: object) -> str:
    """A value as quoted in a message: text in quotes, anything else described."""
    if isinstance(value, str) and len(value) <= 40:
        return repr(value)
    return describe(value)


def is_number(value: object) -> TypeGuard[int | float]:
    """True for JSON numbers only: bool is an int subclass in Python, but not a number here."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def number(
    value: object,
    name: str,
    *,
    minimum: float | None = None,
    above: float | None = None,
    maximum: float | None = None,
    limit: str | None = None,
) -> float:
    """`value` as a finite float within bounds; `limit` names the Limits field for `maximum`."""
    if isinstance(value, NonFinite):
        raise RuleBroken(f"{name} must be a finite number, not {value.token}")
    if not is_number(value):
        raise RuleBroken(f"{name} must be a number, not {describe(value)}")
    try:
        result = float(value)
    except OverflowError:  # an integer too large for a float
        result = math.inf
    if not math.isfinite(result):
        raise RuleBroken(f"{name} must be a finite number, not {describe(value)}")
    if minimum is not None and result < minimum:
        raise RuleBroken(f"{name} is {value}, but it must be {minimum:g} or more")
    if above is not None and result <= above:
        raise RuleBroken(f"{name} is {value}, but it must be more than {above:g}")
    if maximum is not None and result > maximum:
        why = f"the limit {limit} = {maximum:g}" if limit else f"{maximum:g}"
        raise RuleBroken(f"{name} is {value}, more than {why}")
    return result


def find_non_finite(value: object, path: str, depth: int = 0) -> str | None:
    """Path of the first NaN / Infinity inside a kept-as-is value, or None. These would make
    the declaration unprintable as JSON later, so they are refused at the door."""
    if isinstance(value, NonFinite) or (isinstance(value, float) and not math.isfinite(value)):
        return path
    if depth > 64:
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = find_non_finite(item, f"{path}.{key}", depth + 1)
            if found:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = find_non_finite(item, f"{path}[{i}]", depth + 1)
            if found:
                return found
    return None
