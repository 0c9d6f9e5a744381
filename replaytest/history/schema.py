"""The published JSON Schema of the native history format, and validation against it.

A compiled fast path (``_fastschema``) accepts valid documents 50–100× faster than
jsonschema; jsonschema still decides and explains every rejection.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from .errors import HistoryFormatError

FORMAT = "replaytest.history"
VERSION = 1


def schema() -> dict[str, Any]:
    """The published JSON Schema (draft 2020-12) of the history format."""
    return json.loads(schema_text())


def schema_text() -> str:
    return resources.files("replaytest.history").joinpath("history-v1.json").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema  # imported on first use: sessions that load no history never pay for it

    return jsonschema.Draft202012Validator(schema())


@lru_cache(maxsize=1)
def _fast_validator() -> Any:
    """The schema compiled to plain Python checks, or None if it uses a keyword the compiler
    does not know (then jsonschema alone decides, so a schema change is never ignored)."""
    from ._fastschema import UnsupportedSchema, compile_schema

    try:
        return compile_schema(schema())
    except UnsupportedSchema:
        return None


def validate(doc: Any, source: str = "<history>") -> None:
    """Raise HistoryFormatError naming the JSON pointer and the reason of the first problem."""
    if isinstance(doc, dict) and doc.get("format") == FORMAT and doc.get("version") not in (None, VERSION):
        raise HistoryFormatError(
            source,
            "/version",
            f"format version {doc.get('version')!r} is not one this replaytest reads (it reads version {VERSION}); "
            "upgrade replaytest or re-export the history",
        )
    if isinstance(doc, dict) and "format" not in doc and isinstance(doc.get("events"), list):
        first = doc["events"][0] if doc["events"] else {}
        if isinstance(first, dict) and "eventType" in first:
            raise HistoryFormatError(
                source,
                "/events/0",
                "this is a Temporal history; replaytest reads its own format (see docs/history-format.md)",
            )
    fast = _fast_validator()
    if fast is not None and fast(doc):
        return  # valid: the common case, 50–100× faster than jsonschema
    error = _first_error(doc)  # jsonschema decides and explains whatever the fast path rejects
    if error is not None:
        pointer = "/" + "/".join(str(p) for p in error.absolute_path)
        raise HistoryFormatError(source, pointer if pointer != "/" else "top level", _plain(error))


def _first_error(doc: Any) -> Any:
    """The first problem in document order (what the docs promise), found without validating
    the rest: jsonschema yields errors lazily, event by event, so a file of 200,000 bad events
    costs one event's worth of errors, not all of them."""
    import jsonschema

    errors: list[Any] = []
    for error in _validator().iter_errors(doc):
        if errors and list(error.absolute_path)[:2] != list(errors[0].absolute_path)[:2]:
            break  # the next event's problems: not the first one's
        errors.append(error)
    if not errors:
        return None
    best = jsonschema.exceptions.best_match(errors)
    # best_match may pick a shallow `if/then` wrapper; descend to the innermost cause.
    while best.context:
        best = jsonschema.exceptions.best_match(best.context)
    return best


def _plain(error: Any) -> str:
    if error.validator == "required":
        return error.message.replace("is a required property", "is missing (required)")
    if error.validator == "const" and list(error.absolute_path) == ["format"]:
        return f'"format" must be "{FORMAT}"; is this a replaytest history?'
    return error.message
