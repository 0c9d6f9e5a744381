"""Native event histories: the model, reading and writing, the JSON Schema, and one-line
descriptions of events for reports. Nothing here imports the core, a backend or the engine."""

from .errors import HistoryFormatError
from .events import ACTIVITY_OUTCOMES, CLOSING_EVENTS, COMMAND_EVENTS, OUTCOME_EVENTS
from .io import file_name_for, history_files, parse_json, read_bytes
from .model import Event, History, format_time, parse_time
from .schema import FORMAT, VERSION, schema, schema_text, validate

__all__ = [
    "ACTIVITY_OUTCOMES",
    "CLOSING_EVENTS",
    "COMMAND_EVENTS",
    "FORMAT",
    "OUTCOME_EVENTS",
    "VERSION",
    "Event",
    "History",
    "HistoryFormatError",
    "file_name_for",
    "format_time",
    "history_files",
    "parse_json",
    "parse_time",
    "read_bytes",
    "schema",
    "schema_text",
    "validate",
]
