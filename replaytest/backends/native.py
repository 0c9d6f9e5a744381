"""The native backend: histories recorded by replaytest's own engine, replayed by the core.

It owns the sandbox: its :meth:`NativeBackend.session` holds one sandbox session for the run
(one freezegun start, ~50 ms, instead of a start and stop per history), and a session that
replays no native history never starts it.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.execution import Execution, ReplayObserver
from ..core.frames import blocked_source
from ..core.tasks import catch_up, retry_failed_task, trailing_task_failures
from ..definitions import WorkflowDefinition, collect
from ..history import Event, History, HistoryFormatError
from ..history.describe import describe_event
from ..history.schema import FORMAT
from ..modes import ArgsMode, SandboxMode, parse_mode
from ..modules import defines_workflow, project_origin
from ..report.divergence import NondeterminismError, UnknownWorkflowError, WorkflowTaskError
from ..report.result import ReplayResult
from ..report.text import safe, safe_lines
from . import Backend, Document, Entry, ReplaySettings, progress

if TYPE_CHECKING:
    from ..view.model import Timeline


def registry(
    workflows: Iterable[Any],
) -> tuple[dict[str, WorkflowDefinition], dict[str, list[WorkflowDefinition]]]:
    """(workflow types → definitions, the types two of the given modules define differently):
    which of those replays a history must not depend on the order the modules were named in."""
    conflicts: dict[str, list[WorkflowDefinition]] = {}
    found, _ = collect(workflows, conflicts)
    return found, conflicts


def resolve(
    history: History,
    workflows: dict[str, WorkflowDefinition],
    import_recorded: bool = False,
    project_dir: Path | None = None,
    ambiguous: dict[str, list[WorkflowDefinition]] | None = None,
) -> WorkflowDefinition:
    """The definition to replay ``history`` with. With ``import_recorded``, when the type is not
    registered, the module the history names (``module:function``) is imported -- but only if
    it is the project's own code (see :func:`replaytest.modules.project_origin`) and its source
    declares that workflow (:func:`replaytest.modules.defines_workflow`, read without running
    it): a history is data and must never make replay run a module of the standard library, an
    installed package, a ``setup.py`` or anything else found on sys.path."""
    same_type = (ambiguous or {}).get(history.workflow_type)
    if same_type:
        named = " and ".join(d.module for d in same_type)
        raise UnknownWorkflowError(
            safe(
                f"{history.source}: workflow type {history.workflow_type!r} is defined by more than one module "
                f"given ({named}); replaytest does not pick one by their order: name the one to replay, "
                f"e.g. --replay-module {same_type[-1].module} (MODULE:NAME), or leave the other module out"
            )
        )
    defn = workflows.get(history.workflow_type)
    recorded = history.started.get("workflow_module")
    note = ""
    if defn is None and import_recorded and recorded:
        defn, note = _import_recorded(recorded.split(":", 1)[0], history, project_dir or Path.cwd())
    if defn is None:
        known = ", ".join(sorted(workflows)) or "none"
        error = UnknownWorkflowError(
            safe(
                f"{history.source}: workflow type {history.workflow_type!r} is not registered (registered: {known}); "
                "pass its module with --replay-module / workflows=[...]"
            )
        )
        error.recorded_note = note  # type: ignore[attr-defined]  # why the module the history names was not used
        raise error
    return defn


def _import_recorded(module: str, history: History, project_dir: Path) -> tuple[WorkflowDefinition | None, str]:
    """The definition of ``workflow_type`` from ``module`` (a name a history recorded), or None
    and what stopped it being used. Whatever importing raises -- ``SystemExit`` from a script,
    ``KeyboardInterrupt``, any ``BaseException`` -- fails this history only, never the run."""
    workflow_type = history.workflow_type
    where, _ = project_origin(module, project_dir)
    if where is None:
        return None, ""  # the report says why (it looks again, for every history)
    if module not in sys.modules and not defines_workflow(where, workflow_type):
        return None, (
            f"its source {where} defines no workflow {workflow_type!r}, so replaytest did not import it "
            "(a history may name any file; only a module that declares its workflow is run)"
        )
    try:
        imported = importlib.import_module(module)
    except BaseException as e:  # a setup.py's SystemExit must not end the run
        text = (str(e).strip().splitlines() or [""])[0][:200]
        raise UnknownWorkflowError(
            safe(
                f"{history.source}: importing {module} ({where}), the module the history names for workflow "
                f"{workflow_type!r}, raised {type(e).__name__}{': ' + text if text else ''}"
            )
        ) from None
    return registry([imported])[0].get(workflow_type), ""


def replay(
    history: History | str,
    workflows: Iterable[Any] = (),
    *,
    args_mismatch: ArgsMode | str = "error",
    sandbox: SandboxMode | str | None = SandboxMode.STRICT,
    observer: ReplayObserver | None = None,
    import_recorded: bool = False,
    project_dir: Path | None = None,
) -> ReplayResult:
    """Replay ``history`` against the current workflow code.

    Raises NondeterminismError at the first divergence, WorkflowTaskError when the code
    raises where history recorded it working (or, for a workflow whose task kept failing,
    when the code still raises), UnknownWorkflowError when the type is not registered.
    """
    if isinstance(history, str):
        history = History.load(history)
    args_mismatch = parse_mode(ArgsMode, args_mismatch, "args_mismatch")
    known, ambiguous = registry(workflows)
    defn = resolve(history, known, import_recorded, project_dir, ambiguous)
    started = history.started
    check_input(history, defn)
    ex = Execution(
        defn,
        workflow_id=started["workflow_id"],
        run_id=started["run_id"],
        args=started["input"],
        seed=started["seed"],
        history=history.events,
        args_mismatch=args_mismatch,
        sandbox=sandbox,
        observer=observer,
        history_source=history.source,
    )
    try:
        with progress(lambda: _applied(ex)):
            if sandbox is not None:
                from .. import sandbox as sb

                with sb.resident(), ex.sandboxed(history.events[0].timestamp):
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
    return ReplayResult(
        history.workflow_id,
        history.workflow_type,
        status,
        output,
        len(history.events),
        ex.warnings,
        str(waiting) if waiting else None,
        [c.describe() for c in new],
    )


def _applied(ex: Execution) -> str | None:
    """The last recorded command the code matched (or the task it runs in), for a timeout's message."""
    m = ex.matcher
    expected = m.expected or []
    if m.pos:
        e = expected[m.pos - 1]
        return f"event {e.id} ({describe_event(e)[:120]})"
    upcoming = m.next_expected() or m.next_recorded
    if upcoming is None:
        return None
    return f"events 1–{upcoming.id - 1} (next recorded: event {upcoming.id}, {describe_event(upcoming)[:120]})"


def check_input(history: History, defn: WorkflowDefinition) -> None:
    """The recorded input must fit the workflow function: a history whose input cannot even be
    passed to it is not a history of this workflow (an invalid history, not a crash)."""
    try:
        signature = inspect.signature(defn.fn)
    except (TypeError, ValueError):
        return  # a callable without a signature: let the call decide
    args = history.started["input"]
    try:
        signature.bind(*args)
    except TypeError as e:
        raise HistoryFormatError(
            history.source,
            "/events/0/attrs/input",
            f"the recorded input ({len(args)} argument{'s' if len(args) != 1 else ''}) does not "
            f"fit {defn.name}{signature}: {e}",
        ) from None


def _module_note(history: History, defn: WorkflowDefinition) -> list[str]:
    """When the code that replayed is not the function the history names (two modules define
    the workflow type, or it moved), say so: a failure may only mean the wrong one was used."""
    recorded = history.started.get("workflow_module")
    if not recorded or recorded == defn.module:
        return []
    return [f"the history was recorded by {recorded}; this replay used {defn.module}, from the modules you named"]


def _task_failure_note(events: Sequence[Event]) -> str:
    """What history says about the workflow task that now raises, for its report."""
    failed = trailing_task_failures(events)
    if failed:
        f = failed[-1].attrs.get("failure", {})
        return (
            f"history ends in {len(failed)} failed workflow task(s), last recorded as "
            f"{f.get('type')}: {f.get('message')}; the current code still raises. Fix the code "
            "and replay again: a fixed version lets the workflow go on."
        )
    return "history recorded this workflow task as completed: the current code raises where the recorded code did not."


class NativeBackend:
    name = "native"

    def claims(self, doc: Document) -> bool:
        return isinstance(doc, dict) and doc.get("format") == FORMAT

    def entries(self, path: Path, doc: Document) -> list[Entry]:
        wid = wtype = None
        try:
            attrs = doc["events"][0]["attrs"] if isinstance(doc, dict) else {}
            wid, wtype = attrs.get("workflow_id"), attrs.get("workflow_type")
        except Exception:  # a broken file is still an item: replaying it says what is wrong
            pass
        return [
            Entry(
                path,
                0,
                wid if isinstance(wid, str) and wid else None,
                wtype if isinstance(wtype, str) else None,
                self.name,
            )
        ]

    def __init__(self) -> None:
        # A history validate() built, kept for the one replay() of the same document that follows
        # (the CLI's --debug checks every file before it starts the debugger): built once.
        self._checked: dict[int, tuple[Document, History]] = {}

    def validate(self, doc: Document, display: str) -> None:
        self._checked[id(doc)] = (doc, History.from_dict(doc, source=display))

    def _history(self, doc: Document, display: str) -> History:
        kept = self._checked.pop(id(doc), None)
        if kept is not None and kept[0] is doc and kept[1].source == display:
            return kept[1]
        return History.from_dict(doc, source=display)

    def timeline(self, entry: Entry, doc: Any, *, display: str) -> Timeline:
        """The page's timeline hook (replaytest.view.hook)."""
        from .native_timeline import timeline

        return timeline(doc, display)

    @contextlib.contextmanager
    def session(self, settings: ReplaySettings) -> Iterator[None]:
        from .. import sandbox  # "off" still makes time and randomness deterministic

        with sandbox.session():
            yield

    def replay(self, entry: Entry, doc: Document, settings: ReplaySettings, *, display: str) -> ReplayResult:
        if not (isinstance(doc, dict) and ("format" in doc or "events" in doc)):  # no backend's format at all
            from ..history import HistoryFormatError
            from ..history.io import EXPORT_ONE

            raise HistoryFormatError(
                display,
                "",
                f"not a workflow history: {EXPORT_ONE}",
            )
        history = self._history(doc, display)
        observer = settings.observer()
        named = bool(settings.module_names or settings.modules or settings.extra_workflows)
        try:
            return replay(
                history,
                [*settings.modules, *settings.extra_workflows],
                args_mismatch=settings.args_mismatch or ArgsMode.ERROR,
                sandbox=settings.sandbox,
                observer=observer,
                import_recorded=not named,
                project_dir=settings.project_dir,
            )
        except UnknownWorkflowError as e:
            raise UnknownWorkflowError(_unknown_workflow(e, history, settings)) from None


def _unknown_workflow(error: UnknownWorkflowError, history: History, settings: ReplaySettings) -> str:
    """The report of an unknown workflow type: where replay looked, and what the module the
    history names is -- found without importing it (a history never chooses code to run)."""
    flag = settings.module_flag
    first = str(error)
    if not settings.under_pytest:  # the CLI names its own option
        first = first.replace("--replay-module / workflows=[...]", flag)
    lines = [first]
    lines += ["  " + line for line in settings.describe_search()]
    recorded = history.started.get("workflow_module")
    if not recorded:
        lines.append("  the history records no workflow_module to try")
        return safe_lines(lines)
    module = recorded.split(":", 1)[0]
    where, why_not = project_origin(module, settings.project_dir)
    if settings.module_names or settings.modules or settings.extra_workflows:
        lines.append(
            f"  the history names {recorded}; replaytest never imports a module a history names when you "
            f"name the modules yourself: if it is your code, add {flag} {module}"
        )
    elif where is None and why_not.startswith("not importable"):
        lines.append(
            f"  the history names {recorded}, which is {why_not}; is the project on sys.path "
            f'(`pythonpath = ["."]` in pyproject.toml, `pythonpath = .` in pytest.ini)? or pass its module with '
            f"{flag} {module}"
        )
    elif where is None:
        lines.append(
            f"  the history names {recorded}, which is {why_not}; replaytest imports only the project's "
            f"own modules for a history: if you trust it, pass {flag} {module}"
        )
    elif note := getattr(error, "recorded_note", ""):
        lines.append(f"  the history names {recorded}: {note}")
    elif module in sys.modules:
        lines.append(
            f"  the history names {recorded}; that module imports but defines no workflow {history.workflow_type!r}"
        )
    else:
        lines.append(f"  the history names {recorded} ({where}), which did not import; check it with {flag} {module}")
    return safe_lines(lines)


BACKEND: Backend = NativeBackend()
