"""The published JSON Schema of the native history format, and validation against it.

The typed structs of ``typed`` accept valid documents ~100× faster than jsonschema;
jsonschema still decides and explains every document they do not accept.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from .errors import HistoryFormatError
from .events import Event

FORMAT = "replaytest.history"
VERSION = 1


def schema() -> dict[str, Any]:
    """The published JSON Schema (draft 2020-12) of the history format."""
    loaded: dict[str, Any] = json.loads(schema_text())
    return loaded


def schema_text() -> str:
    return resources.files("replaytest.history").joinpath("history-v1.json").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema  # imported on first use: sessions that load no history never pay for it

    return jsonschema.Draft202012Validator(schema())


def validate(doc: Any, source: str = "<history>") -> None:
    """Raise HistoryFormatError naming the JSON pointer and the reason of the first problem."""
    checked_events(doc, source)


def checked_events(doc: Any, source: str = "<history>", *, fast: bool = True) -> tuple[list[Event], set[str]]:
    """The events of a schema-valid ``doc``; HistoryFormatError naming the JSON pointer and the
    reason of the first problem otherwise (consistency is checked by the caller), with the times
    already known to be real UTC times. ``fast=False`` leaves it all to jsonschema (what the
    tests compare the typed structs with)."""
    from . import typed

    decoded = typed.convert(doc) if fast else None
    if decoded is not None:
        return decoded  # valid: the common case, ~100× faster than jsonschema
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
    try:
        error = _first_error(doc)  # jsonschema decides and explains whatever the typed structs refuse
        if error is not None:
            pointer = "/" + "/".join(str(p) for p in error.absolute_path)
            reason = _plain(error)
    except RecursionError:  # jsonschema walks and quotes values recursively: depth depends on the stack
        raise HistoryFormatError(source, "", "lists and objects nested too deeply to check") from None
    if error is not None:
        if len(reason) > MAX_REASON:  # jsonschema quotes the whole offending value
            reason = reason[: MAX_REASON - 1] + "…"
        raise HistoryFormatError(source, pointer if pointer != "/" else "top level", reason)
    # valid, in a way the structs do not read (an integer written 1.0): the events as they are
    return [Event(e["id"], e["time"], e["type"], e["attrs"]) for e in doc["events"]], set()


#: the longest reason quoted from jsonschema (it repeats the offending value whole)
MAX_REASON = 300


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
    message: str = error.message
    if error.validator == "required":
        return message.replace("is a required property", "is missing (required)")
    if error.validator == "const" and list(error.absolute_path) == ["format"]:
        return f'"format" must be "{FORMAT}"; is this a replaytest history?'
    return message
