"""Canonical JSON: the one byte form every record entry is hashed and signed in.

It holds the encoder and a strict reader; it must never emit two byte strings for one
value, nor accept a value (NaN, Infinity, a huge integer, a non-string key) that another
JSON reader would read back differently. The encoder has two paths with the same bytes:
`general_canonical_json` writes any value part by part; `canonical_json` first checks
whether the standard library's C encoder writes the value canonically (exact types, ASCII
keys, numbers Python's repr spells as RFC 8785 does) and uses it then (a 50-waypoint
request body: 94 against 457 us); `service.auth.signed_message` and every log entry use it.

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
from itertools import chain
from typing import Any, TypeAlias

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


_dumps = json.JSONEncoder(
    ensure_ascii=False,
    allow_nan=False,
    sort_keys=True,
    separators=(",", ":"),
    check_circular=False,
).encode


_string = json.encoder.encode_basestring  # a JSON string as canonical_json writes it


def canonical_json(value: JSONValue) -> bytes:
    """The canonical UTF-8 bytes of `value`; NotCanonical names the first part refused.

    `general_canonical_json`'s bytes, in a fraction of the time for the usual values:
    when every number is a safe integer or a float whose canonical spelling Python's repr
    gives (non-integral magnitudes in [1e-4, 1e16)) or that is integral (then spelt as the
    integer: 35.0 is `35`, as RFC 8785 writes it), and every object key is ASCII (so
    code-point and UTF-16 orders agree), the standard encoder writes exactly the canonical
    form of a copy with the integral floats made integers. Anything else (other floats,
    big integers, non-ASCII keys, other types, a `Canonical`, lone surrogates) goes to
    `general_canonical_json`, which encodes or refuses it (tests/record/test_store_log.py,
    tests/record/test_fast_canonical.py compare the two)."""
    ready = value if _plain(value, 0) else _ready(value, 0)
    if ready is not _SLOW:
        try:
            return _dumps(ready).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: general_canonical_json says so
    return general_canonical_json(value)


def _plain(value: object, depth: int) -> bool:
    """Whether the standard encoder writes `value` in canonical form (see fast_canonical).
    Exact types only: a subclass (a bool is an int, an enum a str) may encode otherwise.
    Scalars inside containers are checked in the loop, without a call each; the items of
    arrays in bulk (`_items_plain`)."""
    if type(value) is dict:
        if depth >= MAX_DEPTH:
            return False
        for k, v in value.items():
            if type(k) is not str or not k.isascii():
                return False
            tv = type(v)
            if tv is str or v is None or tv is bool:
                continue
            if tv is float:
                a = abs(v)
                if not (1e-4 <= a < 1e16) or a.is_integer():
                    return False
            elif tv is int:
                if not -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER:
                    return False
            elif not _plain(v, depth + 1):
                return False
        return True
    if type(value) is list or type(value) is tuple:
        return depth < MAX_DEPTH and _items_plain(value, depth)
    if type(value) is str or type(value) is bool or value is None:
        return True
    if type(value) is int:
        return -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
    if type(value) is float:
        # Python's repr and ECMAScript agree on the shortest digits; their layouts agree
        # for non-integral magnitudes in [1e-4, 1e16) (no exponent, no trailing ".0").
        a = abs(value)
        return 1e-4 <= a < 1e16 and not a.is_integer()
    return False


_TEXT_TYPES = frozenset((str, bool, type(None)))
_FLOAT_TYPES = frozenset((float,))
_ARRAY_TYPES = (frozenset((list,)), frozenset((tuple,)), frozenset((list, tuple)))
_FLOAT_LOW = 1e-4
_FLOAT_HIGH = 1e16
_INFINITY = float("inf")
_INT_LOW = -MAX_SAFE_INTEGER
_INT_HIGH = MAX_SAFE_INTEGER


def _items_plain(items: Sequence[Any], depth: int) -> bool:
    """`_plain` for every item of arrays at `depth` (the array's own depth checked),
    in bulk: one pass over the items' types, then, when they are all floats, checks that
    loop in C (a NaN or an infinity makes the sum of the magnitudes NaN or infinite, and
    then fails `total < inf`; without them min and max are exact). Arrays of arrays
    (GeoJSON coordinates) are flattened one level and checked the same way, one level
    deeper; anything else goes item by item (tests/record/test_fast_canonical.py)."""
    types = set(map(type, items))
    if types <= _TEXT_TYPES:
        return True
    if types == _FLOAT_TYPES:
        mags: list[float] = list(map(abs, items))
        total = sum(mags)  # NaN or infinite if any is (or if the sum overflows: slow path)
        return (
            total < _INFINITY
            and min(mags) >= _FLOAT_LOW
            and max(mags) < _FLOAT_HIGH
            and not any(map(float.is_integer, mags))
        )
    if types in _ARRAY_TYPES:
        if depth + 1 >= MAX_DEPTH:
            return False
        return _items_plain(list(chain.from_iterable(items)), depth + 1)
    for v in items:
        tv = type(v)
        if tv is float:
            a = abs(v)
            if not (1e-4 <= a < 1e16) or a.is_integer():
                return False
        elif tv is int:
            if not _INT_LOW <= v <= _INT_HIGH:
                return False
        elif tv is not str and v is not None and tv is not bool and not _plain(v, depth + 1):
            return False
    return True


_SLOW = object()
"""`_ready`'s answer for a value the standard encoder would not write canonically."""


def _number(v: float) -> object:
    """A float as the standard encoder may write it canonically, or _SLOW."""
    a = abs(v)
    if 1e-4 <= a < 1e16:
        return int(v) if a.is_integer() else v
    return 0 if a == 0.0 else _SLOW


def _ready(value: object, depth: int) -> object:
    """`value` for the standard encoder (see fast_canonical), or _SLOW. Exact types only:
    a subclass (a bool is an int, an enum a str) may encode otherwise. Scalars inside
    containers are handled in the loop, without a call each."""
    t = type(value)
    if t is dict:
        if depth >= MAX_DEPTH:
            return _SLOW
        out: dict[str, object] = {}
        for k, v in value.items():  # type: ignore[attr-defined]
            if type(k) is not str or not k.isascii():
                return _SLOW
            tv = type(v)
            if tv is str or v is None or tv is bool:
                out[k] = v
            else:
                found = _number(v) if tv is float else _ready(v, depth + 1)
                if found is _SLOW:
                    return _SLOW
                out[k] = found
        return out
    if t is list or t is tuple:
        if depth >= MAX_DEPTH:
            return _SLOW
        if _items_plain(value, depth):  # type: ignore[arg-type]
            return value  # written as it is (coordinates beside an integral altitude)
        items: list[object] = []
        for v in value:  # type: ignore[attr-defined]
            tv = type(v)
            if tv is str or v is None or tv is bool:
                items.append(v)
            else:
                found = _number(v) if tv is float else _ready(v, depth + 1)
                if found is _SLOW:
                    return _SLOW
                items.append(found)
        return items
    if t is str or t is bool or value is None:
        return value
    if t is int:
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else _SLOW  # type: ignore[operator]
    if t is float:
        return _number(value)  # type: ignore[arg-type]
    return _SLOW


def general_canonical_json(value: JSONValue) -> bytes:
    """The canonical UTF-8 bytes of `value`, encoded part by part: the reference encoder,
    for any value; NotCanonical names the first part refused. `canonical_json` gives the
    same bytes faster and falls back on this."""
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
