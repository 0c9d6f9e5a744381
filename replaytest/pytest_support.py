"""The work behind the pytest plugin (``replaytest_pytest``), imported only by sessions that
replay something: history files as test items, the ``replayed`` and ``engine`` fixtures,
failure reports and the end-of-session summary line.

Every failure a user can cause (a bad file, an unknown workflow, a divergence, workflow
code that raises) is reported as a failing item with replaytest's own message, never as a
traceback through this module or a collection error that would stop other histories.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import linecache
import os
import traceback
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator, Sequence

import pytest

from replaytest_pytest import MARKED_FAILURE_KEY, ReplayWarning

from .definitions import ReplaytestError
from .divergence import NondeterminismError, WorkflowTaskError
from .history import Event, History, HistoryFormatError
from .replay import ReplayResult, UnknownWorkflowError, replay
from .sources import LIBRARY_DIRS as _LIBRARY_DIRS
from .sources import display_path

_NOT_WORKFLOW_CODE = (*_LIBRARY_DIRS, os.path.dirname(os.__file__) + os.sep, "<")

#: Errors that are a verdict about the history or the workflow code, not a bug to trace.
VERDICTS = (HistoryFormatError, NondeterminismError, WorkflowTaskError, ReplaytestError, ReplayWarning)


# ---------------------------------------------------------------- session settings
@dataclass
class Settings:
    """What every replay in this session uses; built once per process (each xdist worker)."""

    args_mismatch: str
    sandbox: str
    module_names: list[str]
    modules: list[ModuleType] = field(default_factory=list)
    import_errors: dict[str, str] = field(default_factory=dict)

    def describe_search(self) -> list[str]:
        lines = []
        if self.module_names:
            lines.append("searched replay modules (--replay-module / replay_modules): " + ", ".join(self.module_names))
        else:
            lines.append("no replay modules configured (--replay-module / replay_modules)")
        lines.extend(f"could not import replay module {name}: {err}" for name, err in self.import_errors.items())
        return lines


SETTINGS_KEY = pytest.StashKey[Settings]()


def settings(config: pytest.Config) -> Settings:
    if SETTINGS_KEY not in config.stash:
        # Reports quote workflow source lines through linecache by their cwd-relative path;
        # drop lines an earlier session in this process (pytester, an IDE) cached for it.
        linecache.clearcache()
        names = list(dict.fromkeys([*config.getini("replay_modules"), *config.getoption("replay_modules")]))
        s = Settings(config.getoption("replay_args") or config.getini("replay_args"),
                     config.getoption("replay_sandbox") or config.getini("replay_sandbox"), names)
        for name in names:
            try:
                s.modules.append(importlib.import_module(name))
            except Exception as e:  # a broken module fails the items that need it, not the session
                s.import_errors[name] = f"{type(e).__name__}: {e}"
        if s.import_errors:
            for name, err in s.import_errors.items():
                warnings.warn(ReplayWarning(f"could not import replay module {name}: {err}"))
        _hold_sandbox_session(config)
        config.stash[SETTINGS_KEY] = s
    return config.stash[SETTINGS_KEY]


def _hold_sandbox_session(config: pytest.Config) -> None:
    """One sandbox session (one freezegun start, ~50 ms) for the whole run instead of a
    start and stop (~5 ms) per history. Between replays its patches pass every call through
    to the real clock and generators; pytest's unconfigure removes them."""
    from . import sandbox

    stack = contextlib.ExitStack()
    stack.enter_context(sandbox.session())
    config.add_cleanup(stack.close)


DEBUG_OBSERVER_KEY = pytest.StashKey[Any]()


def start_debugger(config: pytest.Config) -> None:
    """Start debugpy, say how to attach, wait for the IDE (see ``replaytest.debug``)."""
    from .debug import DebugError, DebugOptions, start_for_pytest

    try:
        options = DebugOptions.from_cli(config.getoption("replay_debug"), break_at=config.getoption("replay_break_at"),
                                        break_on=config.getoption("replay_break_on"),
                                        allow_remote=config.getoption("replay_debug_allow_remote"),
                                        timeout=config.getoption("replay_debug_timeout"))
        config.stash[DEBUG_OBSERVER_KEY] = start_for_pytest(options)
    except DebugError as e:  # DebugTimeout too: a usage problem, said in one line
        raise pytest.UsageError(str(e)) from None


def debug_observer(config: pytest.Config, history: History) -> Any:
    """The replay observer when a debugger is attached (--replay-debug), else None."""
    return config.stash.get(DEBUG_OBSERVER_KEY, None)


# ---------------------------------------------------------------- running one replay
class Replay:
    """One replay of one file, remembered so its failure can be explained afterwards."""

    def __init__(self, path: Path, config: pytest.Config, workflows: Sequence[Any] = (), **options: Any) -> None:
        self.path, self.config, self.extra_workflows, self.options = path, config, list(workflows), options
        self.display = display_path(str(path))
        self.history: History | None = None
        self.result: ReplayResult | None = None

    def run(self) -> ReplayResult:
        __tracebackhide__ = True
        s = settings(self.config)
        try:
            data = self.path.read_bytes()
        except OSError as e:
            raise HistoryFormatError(self.display, "", f"cannot read the file ({e.strerror})") from None
        self.history = History.from_json(data, source=self.display)
        options = {"args_mismatch": s.args_mismatch, "sandbox": s.sandbox, **self.options}
        self.result = replay(self.history, [*s.modules, *self.extra_workflows], import_recorded=True,
                             observer=debug_observer(self.config, self.history), **options)
        for message in self.result.warnings:
            warnings.warn_explicit(ReplayWarning(f"{self.result.workflow_id}: {message}"), ReplayWarning,
                                   self.display, 0)
        return self.result

    def properties(self, error: BaseException | None) -> list[tuple[str, Any]]:
        """user_properties: what the summary line counts (also lands in JUnit XML and crosses
        xdist with the report, so no process-global counter is needed)."""
        if error is None and self.result is not None:
            return [("replay_outcome", "passed"), ("replay_events", self.result.events_replayed)]
        outcome = {NondeterminismError: "divergence", WorkflowTaskError: "workflow_task_error",
                   UnknownWorkflowError: "unknown_workflow", HistoryFormatError: "invalid_history"}
        kind = next((v for k, v in outcome.items() if isinstance(error, k)), "error")
        events = 0
        if isinstance(error, NondeterminismError):
            events = error.divergence.matched
        elif isinstance(error, WorkflowTaskError) and error.event_id:
            events = error.event_id - 1
        return [("replay_outcome", kind), ("replay_events", events)]

    def explain(self, error: BaseException) -> str:
        """The failure report for one of VERDICTS."""
        if isinstance(error, UnknownWorkflowError):
            return self._unknown_workflow(error)
        if isinstance(error, WorkflowTaskError):
            return self._workflow_task_error(error)
        if isinstance(error, HistoryFormatError):
            return f"invalid history file {error}"
        return str(error)

    def _unknown_workflow(self, error: UnknownWorkflowError) -> str:
        lines = [str(error)]
        lines += ["  " + line for line in settings(self.config).describe_search()]
        recorded = self.history.started.get("workflow_module") if self.history else None
        if recorded:
            module = recorded.split(":", 1)[0]
            try:
                importlib.import_module(module)
                lines.append(f"  the history names {recorded}; that module imports but defines no workflow "
                             f"{self.history.workflow_type!r}")  # type: ignore[union-attr]
            except Exception as e:
                lines.append(f"  the history names {recorded}, which is not importable here "
                             f"({type(e).__name__}: {e}); is the project on sys.path (pytest ini `pythonpath = .`)?")
        else:
            lines.append("  the history records no workflow_module to try")
        return "\n".join(lines)

    def _workflow_task_error(self, error: WorkflowTaskError) -> str:
        exc = error.error
        wtype = self.history.workflow_type if self.history else "?"
        lines = [f"Workflow code raised in workflow {error.workflow_id} ({wtype}): {type(exc).__name__}: {exc}"]
        frames = [fs for fs in traceback.extract_tb(exc.__traceback__) if _is_workflow_code(fs.filename)]
        if frames:  # the innermost line of *workflow* code, not of a library it called
            fs = frames[-1]
            lines.append(f"  at {display_path(fs.filename)}:{fs.lineno} in {fs.name}")
            lines.append(f"      {(fs.line or '').strip()}")
        elif error.source:
            lines.append(f"  at {error.source}")
        failed = _trailing_task_failures(self.history.events) if self.history else []
        if failed:
            f = failed[-1].attrs.get("failure", {})
            lines.append(f"  history ends in {len(failed)} failed workflow task(s), last recorded as "
                         f"{f.get('type')}: {f.get('message')}; the current code still raises. Fix the code "
                         "and replay again: a fixed version lets the workflow go on.")
        else:
            lines.append("  history recorded this workflow task as completed: the current code raises where the "
                         "recorded code did not.")
        frames = [fs for fs in traceback.extract_tb(exc.__traceback__) if _is_workflow_code(fs.filename)]
        if len(frames) > 1:  # one frame is the `at` line above
            lines.append("  workflow code traceback (most recent call last):")
            for fs in frames:
                lines.append(f'    File "{display_path(fs.filename)}", line {fs.lineno}, in {fs.name}')
                if fs.line:
                    lines.append(f"      {fs.line.strip()}")
        return "\n".join(lines)


def _is_workflow_code(filename: str) -> bool:
    """Not replaytest, asyncio, the stdlib or an installed package: the user's own code."""
    return not filename.startswith(_NOT_WORKFLOW_CODE) and "site-packages" not in filename


def _trailing_task_failures(events: Sequence[Event]) -> list[Event]:
    failed: list[Event] = []
    for e in events:
        if e.type == "WorkflowTaskCompleted":
            failed = []
        elif e.type == "WorkflowTaskFailed":
            failed.append(e)
    return failed


# ---------------------------------------------------------------- history files as items
class HistoryFile(pytest.File):
    """One history JSON file; it yields one item named after the workflow id."""

    def collect(self) -> Iterator[pytest.Item]:
        workflow_id, workflow_type = _peek(self.path)
        name = (workflow_id or self.path.stem).replace("::", ":")
        item = HistoryItem.from_parent(self, name=name)
        item.add_marker(pytest.mark.replay(str(self.path)))
        if workflow_type:
            item.extra_keyword_matches.add(workflow_type)  # -k order_flow selects by workflow type
        yield item


def _peek(path: Path) -> tuple[str | None, str | None]:
    """The workflow id and type, read cheaply for the node id. A file that cannot be read
    still becomes an item; running it reports exactly what is wrong."""
    try:
        attrs = json.loads(path.read_bytes())["events"][0]["attrs"]
        wid, wtype = attrs.get("workflow_id"), attrs.get("workflow_type")
        return (wid if isinstance(wid, str) and wid else None, wtype if isinstance(wtype, str) else None)
    except Exception:
        return None, None


class HistoryItem(pytest.Item):
    """Replays one history file against the current workflow code."""

    def runtest(self) -> None:
        __tracebackhide__ = True
        self._replay = Replay(self.path, self.config)
        error: BaseException | None = None
        try:
            self._replay.run()
        except BaseException as e:
            error = e
            raise
        finally:
            self.user_properties.extend(self._replay.properties(error))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        replay_ = getattr(self, "_replay", None)
        if replay_ is not None and isinstance(excinfo.value, VERDICTS):
            return replay_.explain(excinfo.value)
        return super().repr_failure(excinfo, style=style)  # a bug: show the whole traceback

    def reportinfo(self) -> tuple[os.PathLike[str] | str, int | None, str]:
        return self.path, None, f"replay {display_path(str(self.path))}::{self.name}"


# ---------------------------------------------------------------- fixtures
def replay_marked(request: pytest.FixtureRequest) -> ReplayResult | None:
    """Body of the ``replayed`` fixture. A failed replay fails the *test* (via the plugin's
    pytest_pyfunc_call) with the replay report, rather than erroring its setup."""
    node = request.node
    marker = node.get_closest_marker("replay")
    if marker is None or not marker.args:
        pytest.fail("the `replayed` fixture needs @pytest.mark.replay(\"path/to/history.json\") on the test",
                    pytrace=False)
    path = Path(marker.args[0])
    if not path.is_absolute():
        path = request.config.rootpath / path
    if not path.is_file():
        pytest.fail(f"@pytest.mark.replay({marker.args[0]!r}): no history file at {path} "
                    "(marker paths are relative to the rootdir)", pytrace=False)
    options = dict(marker.kwargs)
    r = Replay(path, request.config, options.pop("workflows", ()), **options)
    try:
        result = r.run()
    except VERDICTS as e:
        node.user_properties.extend(r.properties(e))
        node.stash[MARKED_FAILURE_KEY] = r.explain(e)
        return None
    node.user_properties.extend(r.properties(None))
    return result


#: Where the ``engine`` fixture's virtual clock starts: fixed, so histories a test exports
#: are the same on every run.
ENGINE_START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def make_engine(tmp_path: Path) -> Iterator[Any]:
    """Body of the ``engine`` fixture: a fresh embedded engine on its own SQLite file, with a
    virtual clock (a 30-day timer fires at once), closed after the test."""
    from .engine import Engine, VirtualClock

    engine = Engine(tmp_path / "engine.db", clock=VirtualClock(start=ENGINE_START))
    try:
        yield engine
    finally:
        engine.close()


# ---------------------------------------------------------------- the summary line
def summary_line(stats: dict[str, list[Any]]) -> str:
    counts: dict[str, int] = {}
    events = 0
    for reports in stats.values():
        for rep in reports:
            if getattr(rep, "when", None) != "call":
                continue
            props = dict(p for p in rep.user_properties if isinstance(p, (tuple, list)) and len(p) == 2)
            if "replay_outcome" not in props:
                continue
            counts[props["replay_outcome"]] = counts.get(props["replay_outcome"], 0) + 1
            events += int(props.get("replay_events", 0))
    replayed = sum(counts.get(k, 0) for k in ("passed", "divergence", "workflow_task_error"))
    divergences = counts.get("divergence", 0)
    parts = [f"{replayed} {_plural(replayed, 'history', 'histories')} replayed ({events} events)",
             f"{divergences} {_plural(divergences, 'divergence', 'divergences')}"]
    for key, one, many in (("workflow_task_error", "workflow task error", "workflow task errors"),
                           ("unknown_workflow", "unknown workflow", "unknown workflows"),
                           ("invalid_history", "invalid history file", "invalid history files"),
                           ("error", "other error", "other errors")):
        if counts.get(key):
            parts.append(f"{counts[key]} {_plural(counts[key], one, many)}")
    return "replaytest: " + ", ".join(parts)


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many
