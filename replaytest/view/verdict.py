"""A replay's verdict as plain data for the page: what the text reports say, in pieces (the
divergent event, recorded vs issued with the differing parts marked, the user's source line
with the code around it, the advice, warnings tied to their events).

Built where the replay ran (a pytest worker, the CLI) and small, so it travels with the
test report across xdist; the page reads the history file again for the timeline.
"""

from __future__ import annotations

import difflib
import linecache
import re
from typing import Any

from ..definitions import ReplaytestError
from ..history import HistoryFormatError
from ..modules import ModuleImportError
from ..report.divergence import NondeterminismError, UnknownWorkflowError, WorkflowTaskError
from ..report.render import report_lines
from ..report.result import ReplayResult
from ..report.source import Source, display_path
from ..report.text import raised

#: outcome → what the page calls it; failures are everything but "passed" and "not_replayed"
OUTCOMES = {
    "passed": "passed",
    "divergence": "divergence",
    "workflow_task_error": "workflow task error",
    "unknown_workflow": "unknown workflow",
    "invalid_history": "invalid history",
    "module_import": "module does not import",
    "error": "error",
    "not_replayed": "history only",
}
CONTEXT_LINES = 3
_EVENT_REF = re.compile(r"\b(?:history )?event (\d+)\b")
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")


def outcome_of(result: ReplayResult | BaseException | None) -> str:
    if result is None:
        return "not_replayed"
    if isinstance(result, ReplayResult):
        return "passed"
    for cls, name in (
        (NondeterminismError, "divergence"),
        (WorkflowTaskError, "workflow_task_error"),
        (UnknownWorkflowError, "unknown_workflow"),
        (HistoryFormatError, "invalid_history"),
        (ModuleImportError, "module_import"),
    ):
        if isinstance(result, cls):
            return name
    return "error"


def verdict(result: ReplayResult | BaseException | None, display: str) -> dict[str, Any]:
    """The verdict of one replay (``None``: shown without replaying) as JSON data."""
    outcome = outcome_of(result)
    out: dict[str, Any] = {"outcome": outcome, "label": OUTCOMES[outcome]}
    if result is None:
        return out
    out["report"] = "\n".join(report_lines(display, result)[1])  # the CLI's text, to copy
    if isinstance(result, ReplayResult):
        out["summary"] = result.summary()
        out["warnings"] = _warnings(result.warnings)
        return out
    if isinstance(result, NondeterminismError):
        d = result.divergence
        recorded, issued = d.recorded or "(nothing more)", d.issued or "(nothing: the code is waiting)"
        out.update(
            title=d.title,
            event_id=d.event_id,
            matched=d.matched,
            recorded=_segments(recorded, issued),
            issued=_segments(issued, recorded),
            detail=d.detail,
            advice=d.advice,
            notes=list(d.notes),
            warnings=_warnings(d.warnings),
            source=_source_of(d.source) if d.source else None,
        )
        return out
    if isinstance(result, WorkflowTaskError):
        src = None
        if result.frames:
            fs = result.frames[-1]
            src = _source(fs.filename, display_path(fs.filename), fs.lineno or 0, fs.name)
        elif result.source:
            src = _source_of(result.source)
        out.update(
            title=f"workflow code raised {raised(result.error)}",
            event_id=result.event_id,
            source=src,
            detail=result.history_note,
            notes=list(result.notes),
            warnings=_warnings(result.warnings),
            advice="fix the code where it raised; the workflow task is retried and the workflow goes on once it is fixed",
        )
        return out
    if isinstance(result, ReplaytestError):
        out["title"] = str(result)
        return out
    out["title"] = (
        f"internal error in replaytest ({type(result).__name__}: {result}); please report it with this history file"
    )
    return out


def _warnings(warnings: list[str]) -> list[list[Any]]:
    """[event id or None, text]: a warning that names its event is marked at it."""
    out: list[list[Any]] = []
    for w in warnings:
        m = _EVENT_REF.search(w)
        out.append([int(m.group(1)) if m else None, w])
    return out


def _segments(text: str, other: str) -> list[list[Any]]:
    """``text`` as [[piece, differs], ...]: the pieces not in ``other`` are marked, word by word."""
    a, b = _TOKEN.findall(text), _TOKEN.findall(other)
    out: list[list[Any]] = []
    for op, i1, i2, _, _ in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        piece, differs = "".join(a[i1:i2]), op != "equal"
        if not piece:
            continue
        if out and out[-1][1] == differs:
            out[-1][0] += piece
        else:
            out.append([piece, differs])
    return out


def _source_of(source: Source) -> dict[str, Any]:
    return _source(source.path or source.file, source.file, source.line, source.function)


def _source(path: str, shown: str, line: int, function: str) -> dict[str, Any]:
    """The user's line with a few lines of code around it (read now: the page has no files)."""
    lines = linecache.getlines(path)
    lo, hi = max(1, line - CONTEXT_LINES), min(len(lines), line + CONTEXT_LINES)
    return {
        "file": shown,
        "line": line,
        "function": function,
        "lines": [[n, lines[n - 1].rstrip("\n")] for n in range(lo, hi + 1)],
    }
