"""A fast yes/no validator for replaytest's history schema (used by history.validate).

``jsonschema`` validates a history at ~0.5–0.8 ms per event (each event walks 16 ``if``/
``then`` branches, and every failed ``if`` builds ValidationError objects), which is 50–100×
the cost of replaying it. This module compiles the JSON Schema once into nested Python
closures that answer only "valid or not". The intended use keeps every guarantee and every
error message of the current path:

    def validate(doc, source):
        ...                                   # the version / Temporal checks, unchanged
        if _fast_is_valid(doc):               # exact for the keywords it compiles
            return
        error = _first_error(doc)             # jsonschema, as today, for the message
        ...

Rejections are always re-checked by jsonschema, so the fast path can only matter when it
*accepts*; it is written to accept exactly what jsonschema (Draft 2020-12) accepts for the
keywords below, with jsonschema's own rules for types (``bool`` is not a number, ``1.0`` is an
integer), equality (``True`` is not ``1``) and ``pattern`` (``re.search``). Any keyword it
does not know makes :func:`compile_schema` raise ``UnsupportedSchema``, so a later schema
change can never be silently ignored: the caller then keeps using jsonschema alone.

``allOf`` lists of ``if: {properties: {P: {const|enum: strings}}}, then: ...`` branches (the
schema's per-event-type rules) are compiled into a dict lookup on ``P``'s value instead of
testing every branch; the result is the same: branches whose ``if`` fails are skipped, and
an instance that is not an object or lacks ``P`` satisfies every ``if`` (as in the spec).

``bench/check_fastschema.py`` checks it against jsonschema on valid histories and on
thousands of mutated ones.
"""

# mypy: disable-error-code="misc"
# (each check is a lambda binding its parameters as defaults: mypy cannot infer their types)
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Check = Callable[[Any], bool]

#: Keywords with no effect on validity.
_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "title",
        "description",
        "examples",
        "default",
        "$defs",
        "definitions",
        "deprecated",
        "readOnly",
        "writeOnly",
    }
)
_KNOWN = _ANNOTATIONS | {
    "type",
    "const",
    "enum",
    "required",
    "properties",
    "additionalProperties",
    "minimum",
    "exclusiveMinimum",
    "minLength",
    "pattern",
    "items",
    "prefixItems",
    "minItems",
    "$ref",
    "allOf",
    "if",
    "then",
}


class UnsupportedSchema(ValueError):
    """The schema uses something this compiler does not implement: use jsonschema."""


def _is_integer(x: Any) -> bool:
    if isinstance(x, bool):
        return False
    return isinstance(x, int) or (isinstance(x, float) and x.is_integer())


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


_TYPES: dict[str, Check] = {
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str),
    "integer": _is_integer,
    "number": _is_number,
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
}


def _unbool(x: Any) -> Any:
    if isinstance(x, bool):
        return ("bool", x)
    return x


def equal(one: Any, two: Any) -> bool:
    """jsonschema's equality: ``bool`` is not ``int``, recursively."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return one == two
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(equal(a, b) for a, b in zip(one, two))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return one.keys() == two.keys() and all(equal(one[k], two[k]) for k in one)
    return _unbool(one) == _unbool(two)  # as jsonschema: nan != nan


def _all(checks: list[Check]) -> Check:
    if not checks:
        return lambda x: True
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        a, b = checks
        return lambda x: a(x) and b(x)
    return lambda x: all(c(x) for c in checks)


class _Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def ref(self, pointer: str) -> Check:
        if not pointer.startswith("#/"):
            raise UnsupportedSchema(f"$ref {pointer!r}: only local references are compiled")
        if pointer not in self.refs:
            self.refs[pointer] = lambda x: resolved[0](x)  # recursion-safe placeholder
            resolved: list[Check] = []
            node: Any = self.root
            for part in pointer[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            resolved.append(self.compile(node))
            self.refs[pointer] = resolved[0]
        return self.refs[pointer]

    def compile(self, s: Any) -> Check:
        if s is True or s == {}:
            return lambda x: True
        if s is False:
            return lambda x: False
        if not isinstance(s, dict):
            raise UnsupportedSchema(f"schema {s!r} is not an object")
        unknown = set(s) - _KNOWN
        if unknown:
            raise UnsupportedSchema(f"keywords {sorted(unknown)} are not compiled")
        checks: list[Check] = []
        if "type" in s:
            names = s["type"] if isinstance(s["type"], list) else [s["type"]]
            preds = [_TYPES[n] for n in names]
            checks.append(preds[0] if len(preds) == 1 else (lambda x, preds=preds: any(p(x) for p in preds)))
        if "const" in s:
            c = s["const"]
            if isinstance(c, str):
                checks.append(lambda x, c=c: x == c if isinstance(x, str) else False)
            else:
                checks.append(lambda x, c=c: equal(x, c))
        if "enum" in s:
            values = s["enum"]
            if all(isinstance(v, str) for v in values):
                vs = frozenset(values)
                checks.append(lambda x, vs=vs: isinstance(x, str) and x in vs)
            else:
                checks.append(lambda x, values=values: any(equal(v, x) for v in values))
        for kw, cmp in (("minimum", lambda x, m: not x < m), ("exclusiveMinimum", lambda x, m: not x <= m)):
            if kw in s:
                checks.append(lambda x, m=s[kw], cmp=cmp: not _is_number(x) or cmp(x, m))
        if "minLength" in s:
            checks.append(lambda x, m=s["minLength"]: not isinstance(x, str) or len(x) >= m)
        if "pattern" in s:
            search = re.compile(s["pattern"]).search
            checks.append(lambda x, search=search: not isinstance(x, str) or search(x) is not None)
        if "minItems" in s:
            checks.append(lambda x, m=s["minItems"]: not isinstance(x, list) or len(x) >= m)
        if "prefixItems" in s or "items" in s:
            checks.append(self._array(s))
        if "required" in s or "properties" in s or "additionalProperties" in s:
            checks.append(self._object(s))
        if "$ref" in s:
            checks.append(self.ref(s["$ref"]))
        if "allOf" in s:
            checks.append(self._all_of(s["allOf"]))
        if "if" in s:
            cond = self.compile(s["if"])
            then = self.compile(s.get("then", True))
            checks.append(lambda x: not cond(x) or then(x))
        elif "then" in s:
            pass  # `then` without `if` has no effect
        return _all(checks)

    def _array(self, s: dict[str, Any]) -> Check:
        prefix = [self.compile(p) for p in s.get("prefixItems", [])]
        rest = self.compile(s["items"]) if "items" in s else None
        n = len(prefix)

        def check(x: Any) -> bool:
            if not isinstance(x, list):
                return True
            for item, c in zip(x, prefix):
                if not c(item):
                    return False
            if rest is not None:
                for i in range(n, len(x)):
                    if not rest(x[i]):
                        return False
            return True

        return check

    def _object(self, s: dict[str, Any]) -> Check:
        required = tuple(s.get("required", ()))
        props = {k: self.compile(v) for k, v in s.get("properties", {}).items()}
        prop_items = tuple(props.items())
        additional = s.get("additionalProperties", True)
        if additional not in (True, False):
            raise UnsupportedSchema("additionalProperties must be true or false here")
        closed = additional is False
        allowed = frozenset(props)

        def check(x: Any) -> bool:
            if not isinstance(x, dict):
                return True
            for k in required:
                if k not in x:
                    return False
            for k, c in prop_items:
                if k in x and not c(x[k]):
                    return False
            if closed and not allowed.issuperset(x):
                return False
            return True

        return check

    def _discriminator(self, branch: Any) -> tuple[str, frozenset[str]] | None:
        """(P, values) when ``branch`` is ``{if: {properties: {P: {const|enum: str…}}}, then: …}``."""
        if not (isinstance(branch, dict) and set(branch) <= {"if", "then"} and "if" in branch):
            return None
        cond = branch["if"]
        if not (isinstance(cond, dict) and set(cond) == {"properties"} and len(cond["properties"]) == 1):
            return None
        ((prop, sub),) = cond["properties"].items()
        if isinstance(sub, dict) and set(sub) == {"const"} and isinstance(sub["const"], str):
            return prop, frozenset([sub["const"]])
        if isinstance(sub, dict) and set(sub) == {"enum"} and all(isinstance(v, str) for v in sub["enum"]):
            return prop, frozenset(sub["enum"])
        return None

    def _all_of(self, branches: list[Any]) -> Check:
        keys = [self._discriminator(b) for b in branches]
        props = {k[0] for k in keys if k is not None}
        if len(branches) < 2 or None in keys or len(props) != 1:
            return _all([self.compile(b) for b in branches])
        prop = props.pop()
        thens = [self.compile(b.get("then", True)) for b in branches]
        by_value: dict[str, list[Check]] = {}
        for (_, values), then in zip(keys, thens):
            for v in values:
                by_value.setdefault(v, []).append(then)
        table = {v: _all(cs) for v, cs in by_value.items()}
        every = _all(thens)
        no_branch = lambda x: True  # noqa: E731

        def check(x: Any) -> bool:
            if not isinstance(x, dict) or prop not in x:
                return every(x)  # every `if` holds vacuously
            v = x[prop]
            if isinstance(v, str):
                return table.get(v, no_branch)(x)
            return True  # a non-string never equals a string const: no `if` holds

        return check


def compile_schema(schema: dict[str, Any]) -> Check:
    """``is_valid(doc) -> bool`` for ``schema``; raises UnsupportedSchema if it cannot be exact."""
    return _Compiler(schema).compile(schema)
