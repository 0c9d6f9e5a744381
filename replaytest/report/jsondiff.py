"""Where two JSON values differ: for a report of a different workflow result, whose two
one-line renderings would otherwise be cut at the same place and read the same."""

from __future__ import annotations

from typing import Any

from .text import short_json

#: a key one value has and the other does not
ABSENT = object()


def differences(recorded: Any, issued: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """``(path, recorded, issued)`` for every place the values differ, in the recorded
    value's order; paths read like ``charge.id`` or ``items[1]``. Equal is Python's ``==``,
    as replay compares results; a list of another length differs as a whole."""
    if isinstance(recorded, dict) and isinstance(issued, dict):
        out: list[tuple[str, Any, Any]] = []
        for key in [*recorded, *(k for k in issued if k not in recorded)]:
            name = str(key) if str(key) else '""'
            sub = f"{path}.{name}" if path else name
            out += differences(recorded.get(key, ABSENT), issued.get(key, ABSENT), sub)
        return out
    if isinstance(recorded, list) and isinstance(issued, list) and len(recorded) == len(issued):
        return [d for i, (a, b) in enumerate(zip(recorded, issued)) for d in differences(a, b, f"{path}[{i}]")]
    return [] if recorded == issued else [(path, recorded, issued)]


def differing_first(value: Any, other: Any) -> Any:
    """``value`` with the keys that differ from ``other`` first, at every level, so that a
    shortened rendering shows the difference."""
    if not (isinstance(value, dict) and isinstance(other, dict)):
        return value
    differ = [k for k in value if differences(value[k], other.get(k, ABSENT))]  # a key other lacks differs too
    ordered = {k: differing_first(value[k], other.get(k)) for k in differ}
    ordered.update((k, v) for k, v in value.items() if k not in ordered)
    return ordered


def show(value: Any, limit: int = 40) -> str:
    """One value of a difference, short."""
    return "(absent)" if value is ABSENT else short_json(value, limit)


def summary(recorded: Any, issued: Any, limit: int = 4) -> str:
    """One line: ``the results differ at currency (history "EUR", code "USD"); …``."""
    found = differences(recorded, issued)
    if not found:
        return ""
    if found[0][0] == "":
        return f"the result differs as a whole: history {show(recorded)}, code {show(issued)}"
    parts = [f"{path} (history {show(a)}, code {show(b)})" for path, a, b in found[:limit]]
    more = f"; and {len(found) - limit} more" if len(found) > limit else ""
    return f"the results differ at {'; '.join(parts)}{more}"
