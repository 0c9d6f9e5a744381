"""Reports as the CLI prints them (with or without a debugger): one function, one format."""

from __future__ import annotations

import linecache
from typing import Any

from ..definitions import ReplaytestError
from .divergence import NondeterminismError, WorkflowTaskError
from .result import ReplayResult
from .source import display_path
from .text import safe, safe_lines, short_json


def source_line(failure: dict[str, Any]) -> str:
    """The recorded failure's line of workflow code, read back from the file."""
    src = failure.get("source")
    return linecache.getline(src["file"], src["line"]).strip() if src else ""


def report_lines(path: Any, result: ReplayResult | BaseException) -> tuple[bool, list[str]]:
    """(ok, lines) for one replayed history, as ``replaytest replay`` prints it (with or
    without a debugger): a summary and the workflow's result, or the whole failure."""
    ok, lines = _report_lines(path, result)
    # Every field may come from the history (ids, payloads, failure messages): escape each line
    # so none can break into a second, forged one (our own line breaks are list items).
    return ok, [safe(line) for line in lines]


def _report_lines(path: Any, result: ReplayResult | BaseException) -> tuple[bool, list[str]]:
    if isinstance(result, ReplayResult):
        lines = [f"ok    {path}: {result.summary()}"]
        if result.status == "completed":
            lines.append(f"      result: {short_json(result.output, 200)}")
        elif result.status == "failed" and isinstance(result.output, dict):
            kind = result.output.get("type") or result.output.get("ErrorType")
            message = result.output.get("message") or result.output.get("ErrorMessage")
            lines.append(f"      failure: {short_json(kind, 80)}: {short_json(message, 200)}")
        return True, lines + [f"      warning: {w}" for w in result.warnings]
    if isinstance(result, NondeterminismError):
        return False, [f"FAIL  {path}:"] + [f"      {line}" for line in str(result).split("\n")]
    if isinstance(result, WorkflowTaskError) and result.whole_report:
        return False, [f"FAIL  {path}:"] + [f"      {line}" for line in workflow_task_report(result).split("\n")]
    if isinstance(result, WorkflowTaskError):
        code = source_line(result.failure)
        return False, (
            [f"FAIL  {path}: {result}"]
            + ([f"          {code}"] if code else [])
            + [f"      note: {note}" for note in result.notes]
            + [f"      warning before the failure: {w}" for w in result.warnings]
        )
    if isinstance(result, ReplaytestError):
        text = str(result) if str(path) in str(result) else f"{path}: {result}"
        return False, f"FAIL  {text}".split("\n")
    # InternalError or not a verdict at all: a bug in replaytest (or a backend). Say so in one
    # line, never a traceback.
    return False, [
        f"FAIL  {path}: internal error in replaytest ({type(result).__name__}: {result}); "
        "please report it with this history file"
    ]


def workflow_task_report(error: WorkflowTaskError, workflow_type: str | None = None) -> str:
    """The report of workflow code that raised, for every backend: the user's line, what the
    platform and history say, and a workflow-only traceback. A backend contributes through the
    error's fields (``hints``, ``history_note``, ``timeline``, ``platform_message``...)."""
    exc = error.error
    wtype = error.workflow_type or workflow_type or "?"
    lines = [
        f"Workflow code raised in workflow {error.workflow_id} ({wtype}){error.task_place}: {type(exc).__name__}: {exc}"
    ]
    frames = error.frames
    if frames:  # the innermost line of *workflow* code, not of a library it called
        fs = frames[-1]
        lines.append(f"  at {display_path(fs.filename)}:{fs.lineno} in {fs.name}")
        if (fs.line or "").strip():
            lines.append(f"      {(fs.line or '').strip()}")
    elif error.source:
        lines.append(f"  at {error.source}")
        if error.source.code:
            lines.append(f"      {error.source.code}")
    lines.extend(f"  {hint}" for hint in error.hints)
    if error.history_note:
        lines.append(f"  {error.history_note}")
    lines.extend(f"  note: {note}" for note in error.notes)
    if error.warnings:
        lines.append("  warnings before the failure:")
        lines.extend(f"    {w}" for w in error.warnings)
    if error.history_source:
        lines.append(f"  history file: {error.history_source}")
    if len(frames) > 1:  # one frame is the `at` line above
        lines.append("  workflow code traceback (most recent call last):")
        for fs in frames:
            lines.append(f'    File "{display_path(fs.filename)}", line {fs.lineno}, in {fs.name}')
            if fs.line:
                lines.append(f"      {fs.line.strip()}")
    if error.timeline:
        lines.append("  timeline:")
        lines.extend("    " + t for t in error.timeline)
    if error.platform_message:
        platform, message = error.platform_message
        lines.append(f"  {platform}: {message}")
    return safe_lines(lines)
