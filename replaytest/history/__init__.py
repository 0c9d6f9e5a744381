"""Native event histories: the model, reading and writing, the JSON Schema, and one-line
descriptions of events for reports. Nothing here imports the core, a backend or the engine."""

from .errors import HistoryFormatError
from .io import history_files, parse_json, read_bytes
from .events import ACTIVITY_OUTCOMES, CLOSING_EVENTS, COMMAND_EVENTS, OUTCOME_EVENTS
from .io import file_name_for
from .model import Event, History, format_time, parse_time
from .schema import FORMAT, VERSION, schema, schema_text, validate

__all__ = ["Event", "History", "HistoryFormatError", "history_files", "parse_json", "read_bytes", "schema",
           "schema_text", "validate", "format_time", "parse_time", "COMMAND_EVENTS", "OUTCOME_EVENTS",
           "CLOSING_EVENTS", "ACTIVITY_OUTCOMES", "FORMAT", "VERSION", "file_name_for"]
