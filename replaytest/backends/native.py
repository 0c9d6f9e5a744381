"""The native backend: histories recorded by replaytest's own engine, replayed by the core.

It owns the sandbox: its :meth:`NativeBackend.session` holds one sandbox session for the run
(one freezegun start, ~50 ms, instead of a start and stop per history), and a session that
replays no native history never starts it.
"""

from __future__ import annotations

import contextlib
import importlib
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from ..core.execution import Execution, ReplayObserver
from ..core.frames import blocked_source
from ..core.matcher import ArgsMode
from ..core.tasks import catch_up, retry_failed_task
from ..definitions import ReplaytestError, WorkflowDefinition, collect
from ..history import Event, History
from ..history.schema import FORMAT
from ..report.divergence import NondeterminismError, UnknownWorkflowError, WorkflowTaskError
from ..report.result import ReplayResult
from . import Entry, ReplaySettings


def registry(workflows: Iterable[Any]) -> dict[str, WorkflowDefinition]:
    found, _ = collect(workflows)
    return found


def resolve(history: History, workflows: dict[str, WorkflowDefinition], import_recorded: bool = False) -> WorkflowDefinition:
    """The definition to replay ``history`` with; optionally import the module the history
    names (``module:function``) when the type is not registered and the module is importable."""
    defn = workflows.get(history.workflow_type)
    if defn is None and import_recorded and (where := history.started.get("workflow_module")):
        module_name = where.split(":", 1)[0]
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            module = None
        if module is not None:
            defn = registry([module]).get(history.workflow_type)
    if defn is None:
        known = ", ".join(sorted(workflows)) or "none"
        raise UnknownWorkflowError(
            f"{history.source}: workflow type {history.workflow_type!r} is not registered (registered: {known}); "
            "pass its module with --replay-module / workflows=[...]")
    return defn


def replay(history: History | str, workflows: Iterable[Any] = (), *, args_mismatch: ArgsMode | str = "error",
           sandbox: str | None = "strict", observer: ReplayObserver | None = None,
           import_recorded: bool = False) -> ReplayResult:
    """Replay ``history`` against the current workflow code.

    Raises NondeterminismError at the first divergence, WorkflowTaskError when the code
    raises where history recorded it working (or, for a workflow whose task kept failing,
    when the code still raises), UnknownWorkflowError when the type is not registered.
    """
    if isinstance(history, str):
        history = History.load(history)
    try:
        args_mismatch = ArgsMode(args_mismatch)
    except ValueError:
        raise ReplaytestError(f"args_mismatch must be error, warn or ignore, not {args_mismatch!r}") from None
    defn = resolve(history, registry(workflows), import_recorded)
    started = history.started
    ex = Execution(defn, workflow_id=started["workflow_id"], run_id=started["run_id"], args=started["input"],
                   seed=started["seed"], history=history.events, args_mismatch=args_mismatch, sandbox=sandbox,
                   observer=observer, history_source=history.source)
    try:
        if sandbox is not None:
            from .. import sandbox as sb

            with sb.session(), ex.sandboxed(history.events[0].timestamp):
                trailing = catch_up(ex, history.events)
                new = retry_failed_task(ex, trailing)
        else:
            trailing = catch_up(ex, history.events)
            new = retry_failed_task(ex, trailing)
    except WorkflowTaskError as e:
        e.history_note = _task_failure_note(history.events)
        e.notes.extend(_module_note(history, defn))
        e.warnings.extend(ex.warnings)
        raise
    except NondeterminismError as e:
        e.divergence.notes.extend(_module_note(history, defn))
        raise
    last = history.events[-1]
    status = history.status
    output: Any = None
    if status == "completed":
        output = last.attrs["result"]
    elif status == "failed":
        output = last.attrs["failure"]
    waiting = blocked_source(ex.main)
    return ReplayResult(history.workflow_id, history.workflow_type, status, output, len(history.events),
                        ex.warnings, str(waiting) if waiting else None, [c.describe() for c in new])


def _module_note(history: History, defn: WorkflowDefinition) -> list[str]:
    """When the code that replayed is not the function the history names (two modules define
    the workflow type, or it moved), say so: a failure may only mean the wrong one was used."""
    recorded = history.started.get("workflow_module")
    if not recorded or recorded == defn.module:
        return []
    return [f"the history was recorded by {recorded}; this replay used {defn.module}, from the modules you named"]


def _task_failure_note(events: Sequence[Event]) -> str:
    """What history says about the workflow task that now raises, for its report."""
    failed: list[Event] = []
    for e in events:
        if e.type == "WorkflowTaskCompleted":
            failed = []
        elif e.type == "WorkflowTaskFailed":
            failed.append(e)
    if failed:
        f = failed[-1].attrs.get("failure", {})
        return (f"history ends in {len(failed)} failed workflow task(s), last recorded as "
                f"{f.get('type')}: {f.get('message')}; the current code still raises. Fix the code "
                "and replay again: a fixed version lets the workflow go on.")
    return ("history recorded this workflow task as completed: the current code raises where the "
            "recorded code did not.")


class NativeBackend:
    name = "native"

    def claims(self, doc: Any) -> bool:
        return isinstance(doc, dict) and doc.get("format") == FORMAT

    def entries(self, path: Path, doc: Any) -> list[Entry]:
        wid = wtype = None
        try:
            attrs = doc["events"][0]["attrs"]
            wid, wtype = attrs.get("workflow_id"), attrs.get("workflow_type")
        except Exception:  # a broken file is still an item: replaying it says what is wrong
            pass
        return [Entry(path, 0, wid if isinstance(wid, str) and wid else None,
                      wtype if isinstance(wtype, str) else None, self.name)]

    def validate(self, doc: Any, display: str) -> None:
        History.from_dict(doc, source=display)

    @contextlib.contextmanager
    def session(self, settings: ReplaySettings) -> Iterator[None]:
        from .. import sandbox  # "off" still makes time and randomness deterministic

        with sandbox.session():
            yield

    def replay(self, entry: Entry, doc: Any, settings: ReplaySettings, *, display: str) -> ReplayResult:
        history = History.from_dict(doc, source=display)
        observer = settings.observer_factory() if settings.observer_factory else None
        try:
            return replay(history, [*settings.modules, *settings.extra_workflows],
                          args_mismatch=settings.args_mismatch or ArgsMode.ERROR, sandbox=settings.sandbox,
                          observer=observer, import_recorded=True)
        except UnknownWorkflowError as e:
            raise UnknownWorkflowError(_unknown_workflow(e, history, settings)) from None


def _unknown_workflow(error: UnknownWorkflowError, history: History, settings: ReplaySettings) -> str:
    lines = [str(error)]
    lines += ["  " + line for line in settings.describe_search()]
    recorded = history.started.get("workflow_module")
    if recorded:
        module = recorded.split(":", 1)[0]
        try:
            importlib.import_module(module)
            lines.append(f"  the history names {recorded}; that module imports but defines no workflow "
                         f"{history.workflow_type!r}")
        except Exception as e:
            lines.append(f"  the history names {recorded}, which is not importable here "
                         f"({type(e).__name__}: {e}); is the project on sys.path (pytest ini `pythonpath = .`)?")
    else:
        lines.append("  the history records no workflow_module to try")
    return "\n".join(lines)


BACKEND = NativeBackend()
