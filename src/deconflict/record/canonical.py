"""Canonical JSON: the one byte form every record entry is hashed and signed in.

It holds the encoder and a strict reader; it must never emit two byte strings for one
value, nor accept a value (NaN, Infinity, a huge integer, a non-string key) that another
JSON reader would read back differently.

The form is RFC 8785 (JSON Canonicalization Scheme), so a verifier in any language can
recompute it:

- objects: keys sorted by their UTF-16 code units (RFC 8785 §3.2.3), no duplicate keys;
- no whitespace; separators `,` and `:`; output is UTF-8 with non-ASCII characters written
  as themselves; in strings only `"`, `\\` and controls below U+0020 are escaped (`\\b`,
  `\\t`, `\\n`, `\\f`, `\\r`, else `\\u00xx` in lower-case hex);
- numbers are IEEE 754 doubles written the way ECMAScript's `Number.prototype.toString`
  writes them: the shortest digit string that reads back to the same double, plain
  decimal when the decimal exponent n (value = 0.d1d2… × 10^n) is in -6 < n <= 21,
  otherwise `d.ddde±x`. So `1.0` and `1` are both `1`, `-0.0` is `0`, `1e21` is `1e+21`,
  `1e-7` is `1e-7` and `0.000001` is `0.000001`;
- a Python int must lie within ±(2^53 - 1), where every JSON reader holds it exactly
  (an identifier beyond that would be silently changed: send it as a string); a float of
  any finite size is fine, and its plain digits are read back as that float; NaN and
  ±Infinity are refused.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import TypeAlias

from deconflict.record.errors import NotCanonical

JSONValue: TypeAlias = (
    "None | bool | int | float | str | Canonical | Sequence[JSONValue] | Mapping[str, JSONValue]"
)
"""What canonical JSON can hold (lists may be given as tuples; objects as any mapping; a
part already encoded as a `Canonical`)."""


class Canonical:
    """A value already encoded: `raw` is its canonical JSON, written as is wherever the
    value appears (an encoder that knows the shape of its values makes it faster than the
    general one: ingest/positions/rows.py). Whoever makes one vouches that `raw` is exactly
    what `canonical_json` gives for the value (tests/ingest/positions/test_rows.py)."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def __repr__(self) -> str:
        return f"Canonical({self.raw[:40]!r}{'...' if len(self.raw) > 40 else ''})"


MAX_SAFE_INTEGER = 2**53 - 1
"""The largest integer every JSON reader (IEEE 754 doubles) holds exactly."""

MAX_DEPTH = 128
"""Deepest nesting of arrays and objects accepted; deeper is refused, not recursed into."""


def canonical_json(value: JSONValue) -> bytes:
    """The canonical UTF-8 bytes of `value`; NotCanonical names the first part refused."""
    parts: list[str] = []
    _encode(value, parts, [], 0)
    text = "".join(parts)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise NotCanonical(
            "a string holds a lone UTF-16 surrogate, which UTF-8 cannot encode; "
            "pass well-formed text."
        ) from None


def parse_canonical(data: bytes) -> JSONValue:
    """Read bytes that must already be canonical JSON; anything else raises NotCanonical."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotCanonical("the bytes are not UTF-8; canonical JSON is UTF-8.") from None
    try:
        value: JSONValue = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
            parse_int=_read_integer,
        )
    except json.JSONDecodeError as exc:
        raise NotCanonical(f"the bytes are not JSON ({exc.msg} at character {exc.pos}).") from None
    if canonical_json(value) != data:
        raise NotCanonical(
            "the bytes are JSON but not in canonical form (sorted keys, no spaces, "
            "shortest numbers); re-encode them with canonical_json."
        )
    return value


def format_number(x: int | float) -> str:
    """A number as canonical JSON writes it (see the module docstring for the rule)."""
    if isinstance(x, bool):
        raise TypeError("a bool is not a number here")
    if isinstance(x, int):
        if -MAX_SAFE_INTEGER <= x <= MAX_SAFE_INTEGER:
            return str(x)
        raise NotCanonical(
            f"the integer {x} is outside ±(2^53 - 1), which not every JSON reader holds "
            "exactly; send it as a string."
        )
    if not math.isfinite(x):
        raise NotCanonical(f"{x!r} is not a JSON number; record it as null or a string.")
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    digits, n = _shortest_digits(abs(x))
    k = len(digits)
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        exp = ("+" if e >= 0 else "-") + str(abs(e))
        body = (digits if k == 1 else digits[0] + "." + digits[1:]) + "e" + exp
    return sign + body


def _shortest_digits(x: float) -> tuple[str, int]:
    """(d1d2…dk, n) with x = 0.d1d2…dk × 10^n, dk != 0, the shortest round-trip digits.

    Python's float repr is the shortest string that reads back to the same double (the
    same digits ECMAScript picks), so only its layout is changed here.
    """
    mantissa, _, exponent = repr(x).partition("e")
    whole, _, fraction = mantissa.partition(".")
    raw = (whole + fraction).lstrip("0")
    stripped = raw.rstrip("0")
    exp10 = (int(exponent) if exponent else 0) - len(fraction) + (len(raw) - len(stripped))
    return stripped, len(stripped) + exp10


def _utf16_key(key: str) -> bytes:
    # Big-endian UTF-16 bytes compare exactly as RFC 8785's UTF-16 code-unit order;
    # surrogatepass lets a lone surrogate reach the clear error at encode time.
    return key.encode("utf-16-be", "surrogatepass")


def _where(path: list[str]) -> str:
    return "$" + "".join(path)


def _encode(value: object, parts: list[str], path: list[str], depth: int) -> None:
    if value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, str):
        parts.append(json.dumps(value, ensure_ascii=False))
    elif type(value) is Canonical:
        parts.append(value.raw.decode("utf-8"))
    elif isinstance(value, int | float):
        try:
            parts.append(format_number(value))
        except NotCanonical as exc:
            raise NotCanonical(f"at {_where(path)}: {exc.message}") from None
    elif isinstance(value, Mapping):
        if depth >= MAX_DEPTH:
            raise NotCanonical(f"at {_where(path)}: nesting deeper than {MAX_DEPTH} levels.")
        for key in value:
            if not isinstance(key, str):
                raise NotCanonical(
                    f"at {_where(path)}: the object key {key!r} is not a string; "
                    "JSON object keys are strings."
                )
        parts.append("{")
        for i, key in enumerate(sorted(value, key=_utf16_key)):
            if i:
                parts.append(",")
            parts.append(json.dumps(key, ensure_ascii=False))
            parts.append(":")
            path.append(f"[{key!r}]")
            _encode(value[key], parts, path, depth + 1)
            path.pop()
        parts.append("}")
    elif isinstance(value, list | tuple):
        if depth >= MAX_DEPTH:
            raise NotCanonical(f"at {_where(path)}: nesting deeper than {MAX_DEPTH} levels.")
        parts.append("[")
        for i, item in enumerate(value):
            if i:
                parts.append(",")
            path.append(f"[{i}]")
            _encode(item, parts, path, depth + 1)
            path.pop()
        parts.append("]")
    else:
        raise NotCanonical(
            f"at {_where(path)}: a {type(value).__name__} is not a JSON value; convert it "
            "to a string, number, list or object first."
        )


def _no_duplicates(pairs: list[tuple[str, JSONValue]]) -> dict[str, JSONValue]:
    result: dict[str, JSONValue] = {}
    for key, item in pairs:
        if key in result:
            raise NotCanonical(f"the object key {key!r} appears twice; keys must be unique.")
        result[key] = item
    return result


def _read_integer(digits: str) -> int | float:
    # An integral double of 2^53 or more is written in plain digits; read it back as the
    # double it is, as every IEEE 754 reader does (the canonical check then holds).
    n = int(digits)
    return n if -MAX_SAFE_INTEGER <= n <= MAX_SAFE_INTEGER else float(digits)


def _no_constant(name: str) -> JSONValue:
    raise NotCanonical(f"{name} is not a JSON number; canonical JSON refuses it.")
