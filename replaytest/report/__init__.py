"""Backend-neutral verdicts and reports: a divergence, a workflow task failure, a result, and
how each reads. Imports neither the history format nor the core: backends describe events."""

from .divergence import (
    KINDS,
    Divergence,
    NondeterminismError,
    ReplayTimeout,
    UnknownWorkflowError,
    UnsupportedOption,
    WorkflowTaskError,
    timeline,
)
from .render import report_lines, source_line
from .result import ReplayResult
from .source import Source
from .text import short_json

__all__ = [
    "KINDS",
    "Divergence",
    "NondeterminismError",
    "ReplayResult",
    "ReplayTimeout",
    "Source",
    "UnknownWorkflowError",
    "UnsupportedOption",
    "WorkflowTaskError",
    "report_lines",
    "short_json",
    "source_line",
    "timeline",
]
