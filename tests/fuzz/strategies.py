"""Hypothesis strategies for fuzzing: values from a JSON schema (pydantic's), mutations of them, hostile JSON.

Why schema-driven *and* mutated: random JSON is refused at the first check and never reaches the code
behind it; values that satisfy the schema reach the handlers, and one mutation of such a value (a wrong
type, a huge number, a date near year 9999, a lone surrogate, deep nesting, a missing or an unknown key)
probes each check where it sits.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

JsonValue = Any

ATOMS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
)
JSON = st.recursive(ATOMS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                   st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                    max_leaves=12)
"""Any (small) JSON value."""

HOSTILE_TEXT = st.sampled_from([
    "", " ", "\x00", "\ud800", "a\udfffb", "\u202e", "🙂" * 50, "x" * 10_000, "../../etc/passwd", "%00",
    "' OR 1=1 --", "<script>alert(1)</script>", "Thôn Đông 1", "\n", "loa-1\n", "A" * 300, "0001-01-01",
    "9999-12-31T23:59:59+14:00", "2026-02-30", "NaN", "-1", "1e400", "99999999999999999999999",
])
HOSTILE_NUMBER = st.sampled_from([
    -1, 0, 2**31, 2**31 - 1, 2**63, -(2**63) - 1, 10**30, 1e308, -1e308, 1e-308, 0.5,
])
HOSTILE_INSTANT = st.sampled_from([
    "0001-01-01T00:00:00+00:00", "0001-01-01T00:00:00+07:00", "9999-12-31T23:59:59-12:00",
    "9999-12-31T23:59:59.999999+00:00", "1970-01-01T00:00:00Z", "2026-02-30T10:00:00+07:00", "2026-11-29T07:30:00",
    "2099-12-31T23:59:59+07:00", "yesterday", "",
])


REALISTIC = st.sampled_from([
    "thon-1", "thon-2", "loa-1", "loa-2", "cam-1", "vi", "vi-vn-x-south", "06:30", "22:00", "05:00",
    "Asia/Ho_Chi_Minh", "UTC", "Thông báo họp thôn lúc 7 giờ sáng mai tại nhà văn hoá.", "Họp thôn", "admin-1",
    "mat-khau-rat-dai-123", "http://127.0.0.1:9/stream", "all", "zone:thon-1", "node:loa-1",
])
"""Values a real client sends: they get past the first checks, so mutations probe the later ones."""


def deep(depth: int) -> JsonValue:
    value: JsonValue = []
    for _ in range(depth):
        value = [value] if depth % 2 else {"a": value}
    return value


HOSTILE = st.one_of(HOSTILE_TEXT, HOSTILE_NUMBER, HOSTILE_INSTANT, st.integers(min_value=2, max_value=120).map(deep),
                    JSON, st.just({}), st.just([]), st.integers(min_value=100, max_value=3000).map(lambda n: ["x"] * n))
"""One hostile value. Nesting stays within what ``json`` and hypothesis handle at any stack depth (deeper
documents are thrown as raw bytes, see :data:`RAW_BODIES`), so generation itself never recurses out."""


# ------------------------------------------------------------------ values from a JSON schema

def instants() -> st.SearchStrategy[str]:
    base = datetime(2026, 11, 28, tzinfo=UTC)
    return st.one_of(
        st.integers(min_value=-86400 * 30, max_value=86400 * 400)
        .map(lambda s: (base + timedelta(seconds=s)).isoformat()),
        st.integers(min_value=60, max_value=86400 * 3).map(lambda s: (datetime.now(UTC) + timedelta(seconds=s))
                                                          .isoformat()),
        HOSTILE_INSTANT,
    )


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    fmt = schema.get("format")
    if fmt == "date-time":
        return instants()
    if fmt == "time":
        return st.times().map(lambda t: t.isoformat())
    if fmt == "date":
        return st.dates().map(lambda d: d.isoformat())
    if "pattern" in schema:
        try:
            re.compile(schema["pattern"])
            return st.from_regex(schema["pattern"], fullmatch=True).filter(lambda s: len(s) <= 2048)
        except re.error:
            pass
    lo, hi = schema.get("minLength", 0), min(schema.get("maxLength", 80), 80)
    return st.one_of(st.text(min_size=lo, max_size=max(lo, hi)), REALISTIC)


def from_schema(schema: dict[str, Any], defs: dict[str, Any] | None = None, depth: int = 0) -> st.SearchStrategy:
    """Values valid (mostly) for a pydantic JSON schema; cross-field rules are left to chance and mutation."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if depth > 6:
        return ATOMS
    if "$ref" in schema:
        return from_schema(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, depth + 1)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([from_schema(s, defs, depth + 1) for s in schema[key]])
    if "allOf" in schema:
        return from_schema(schema["allOf"][0], defs, depth + 1)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        strategies = {name: from_schema(sub, defs, depth + 1) for name, sub in props.items()}
        return st.fixed_dictionaries({k: v for k, v in strategies.items() if k in required},
                                     optional={k: v for k, v in strategies.items() if k not in required})
    if kind == "array":
        items = from_schema(schema.get("items", {}), defs, depth + 1) if schema.get("items") else ATOMS
        lo = schema.get("minItems", 0)
        return st.lists(items, min_size=lo, max_size=max(lo, min(schema.get("maxItems", 4), 4)))
    if kind == "string":
        return _string(schema)
    if kind == "integer":
        return st.integers(min_value=schema.get("minimum", schema.get("exclusiveMinimum", -(2**40))),
                           max_value=schema.get("maximum", schema.get("exclusiveMaximum", 2**40)))
    if kind == "number":
        return st.floats(min_value=schema.get("minimum"), max_value=schema.get("maximum"), allow_nan=False,
                         allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return JSON


# ------------------------------------------------------------------ mutations

def _paths(value: JsonValue, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _set(value: JsonValue, path: tuple, new: JsonValue) -> JsonValue:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _set(value[head], rest, new)}
    copy = list(value)
    copy[head] = _set(copy[head], rest, new)
    return copy


def _delete(value: JsonValue, path: tuple) -> JsonValue:
    if len(path) == 1:
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if k != path[0]}
        return [v for i, v in enumerate(value) if i != path[0]]
    head = path[0]
    if isinstance(value, dict):
        return {**value, head: _delete(value[head], path[1:])}
    copy = list(value)
    copy[head] = _delete(copy[head], path[1:])
    return copy


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy) -> JsonValue:
    """A value from ``base`` with one to three mutations at random places."""
    value = draw(base)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(value)
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["replace", "replace", "delete", "add", "duplicate-type"]))
        if op == "delete" and path:
            value = _delete(value, path)
        elif op == "add":
            target = path if isinstance(_get(value, path), dict) else ()
            node = _get(value, target)
            if isinstance(node, dict):
                value = _set(value, target, {**node, draw(st.text(max_size=12)): draw(HOSTILE)})
        elif op == "duplicate-type":
            old = _get(value, path)
            value = _set(value, path, [old] if not isinstance(old, list) else {"x": old})
        else:
            value = _set(value, path, draw(HOSTILE))
    return value


def _get(value: JsonValue, path: tuple) -> JsonValue:
    for p in path:
        value = value[p]
    return value


def dumps(value: JsonValue) -> bytes:
    """JSON bytes; lone surrogates are written as ``\\udXXX`` escapes, as a hostile client would."""
    return json.dumps(value, ensure_ascii=True).encode("ascii")


RAW_BODIES = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"", b"{", b"[]", b"null", b'"x"', b"{}" * 1000, b'{"a": NaN}', b'{"a": Infinity}',
                     b'{"a": 1' + b"0" * 5000 + b"}", b"[" * 100_000 + b"]" * 100_000, b'{"a": "\\ud800"}',
                     b"\xef\xbb\xbf{}", b"\xff\xfe{\x00}\x00", b'{"a":1,"a":2}', b" " * 300_000]),
    st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
)
"""Bodies that are not (good) JSON at all."""


_BUILT: dict[str, st.SearchStrategy] = {}


def _once(kind: str, schema: dict[str, Any] | None, build: Any) -> st.SearchStrategy:
    """Strategies are built once per schema: hypothesis validates a new strategy tree on every draw, which for
    a large schema costs far more than drawing from it (0.6 s per command before this cache, ms after)."""
    key = kind + json.dumps(schema, sort_keys=True)
    if key not in _BUILT:
        _BUILT[key] = build()
    return _BUILT[key]


def schema_values(schema: dict[str, Any]) -> st.SearchStrategy:
    """:func:`from_schema`, built once per schema."""
    return _once("values", schema, lambda: from_schema(schema))


def json_body(schema: dict[str, Any] | None) -> st.SearchStrategy[bytes]:
    """Bodies for a route: valid for its model, mutated from valid, arbitrary JSON, or not JSON at all."""
    if schema is None:
        return _once("body", None, lambda: st.one_of(JSON.map(dumps), RAW_BODIES, HOSTILE.map(dumps)))
    valid = schema_values(schema)
    return _once("body", schema, lambda: st.one_of(valid.map(dumps), mutated(valid).map(dumps),
                                                   mutated(valid).map(dumps), JSON.map(dumps), RAW_BODIES))
