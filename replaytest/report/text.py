"""Small text helpers every report uses: short JSON for one-line descriptions, and ``safe``
for anything a history or workflow code put into a line we print."""

from __future__ import annotations

import json
from typing import Any

#: the longest line ``safe`` returns: a history's values are quoted in reports, item names and
#: JUnit fields, and a 50 MB event type must not become a 50 MB line
MAX_LINE = 1000


def safe(text: str, limit: int = MAX_LINE) -> str:
    """``text`` with every character that could break or restyle a line escaped: newlines and
    other line separators (``\\r``, ``\\x85``, ``\\u2028``), terminal escape sequences, other
    control characters, and lone surrogates (which no encoder can print). A workflow id
    ``"a\\nFAIL x"`` prints as ``a\\nFAIL x`` on one line, so a history can never forge a line
    of a report, a pytest item name or JUnit output. Longer than ``limit`` characters, it is cut
    and says how much was left out."""
    cut = ""
    if len(text) > limit:
        cut, text = f"… ({len(text) - limit:,} more characters)", text[:limit]
    if text.isprintable() and text.isascii():
        return text + cut  # the common case, without a per-character loop
    escaped = "".join(c if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF else _escape(c) for c in text)
    return (escaped[:limit] + "…" if len(escaped) > limit and not cut else escaped) + cut


def _escape(c: str) -> str:
    return repr(c)[1:-1] if c not in "'\"" else c


def safe_lines(lines: list[str]) -> str:
    """Join report lines, each made safe first: a field with a newline stays on its line."""
    return "\n".join(safe(line) for line in lines)


def raised(error: BaseException) -> str:
    """``ValueError: no sku``, or just ``KeyboardInterrupt`` for an error without a message."""
    said = str(error)
    return f"{type(error).__name__}: {said}" if said else type(error).__name__


def json_kind(value: Any) -> str:
    """How JSON names a value's kind, for messages that must not quote the value itself (it may
    be huge or hostile): ``null``, ``a boolean``, ``an object``, ``a list``, ``a string``, ``a number``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    kinds: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}
    return kinds.get(type(value), "a number")


def short_json(value: Any, limit: int = 60) -> str:
    """``value`` as JSON on one safe line, cut to ``limit`` characters with an ellipsis."""
    text = safe(json.dumps(value, ensure_ascii=False))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_duration(seconds: float) -> str:
    """``30d``, ``2h``, ``5m`` for whole units, else seconds (``1.5s``)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
