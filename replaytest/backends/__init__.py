"""The backend seam: one history format per backend, one harness for all of them.

A :class:`Backend` says whether a parsed JSON document is its format (by content, never by
file name), names the replayable histories in it cheaply (for pytest items and ``-k``),
holds whatever it needs for a whole run (``session``: the native sandbox, a Temporal replay
worker) and replays one history against the user's code — returning a backend-neutral
:class:`~replaytest.report.ReplayResult` or raising one of the verdicts in
:mod:`replaytest.report`. The pytest items, ``replaytest replay`` and the debugger call only
this seam.

Backends are registered by entry points in the group ``replaytest.backends`` (replaytest's
own in its ``pyproject.toml``), so a backend can live in a distribution of its own. Every
backend is asked whether a document is its format, so no order between them matters; the
native backend answers for what no other claims. They are imported lazily, and a backend's
``claims`` must not import its platform's SDK: a session with only native histories never
imports temporalio or the AWS SDK. What a backend adds to the command line is declared apart,
in ``replaytest_options`` (read at startup, importing nothing of replaytest).
"""

from __future__ import annotations

import contextlib
import functools
import types
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Protocol

from ..definitions import ReplaytestError
from ..history.errors import HistoryFormatError
from ..modes import ArgsMode, SandboxMode, parse_mode
from ..report.divergence import ReplayTimeout
from ..report.result import ReplayResult
from .bounds import (
    DEFAULT_REPLAY_TIMEOUT,
    Alarm,
    bounded,
    ctrl_c,
    parse_timeout,
    progress,
    raised_by_code,
    timeout_message,
)

#: the entry-point group backends are registered in
GROUP = "replaytest.backends"
#: the backend asked last: it claims whatever no other backend does
FALLBACK = "native"

#: A history document as ``json.loads`` returns it: the seam hands it over unchanged, and
#: each backend reads its own format out of it.
Document = dict[str, Any] | list[Any] | str | int | float | bool | None


class ReplayDebugger(Protocol):
    """The debugger as a backend sees it (``replaytest.debug.DebugObserver``): the one way any
    backend stops in the user's code. The native core calls its ``ReplayObserver`` hooks."""

    break_at: list[int]  # --break-at event ids, sorted
    break_on_divergence: bool

    def track(self, replay: object) -> None:
        """``replay`` is the replay now observed: a new one starts fresh bookkeeping."""
        ...

    def take_due(self, up_to: int) -> list[int]:
        """The ``--break-at`` event ids up to ``up_to`` not stopped at yet, now marked reached."""
        ...

    def stop(self, frame: types.FrameType, why: str, event_id: int | None, extra: dict[str, Any]) -> None:
        """Pause in the user's ``frame`` (a no-op when no IDE is attached)."""
        ...

    def diverged(self, error: BaseException, frame: types.FrameType | None, module: str) -> None:
        """``--break-on divergence``: stop in ``frame`` as on ``error`` (a NondeterminismError);
        with no frame of the user's code left, at its report's source line, in ``module``."""
        ...

    def announce(self, line: str) -> None:
        """Tell the user something about the debugger (past output capturing)."""
        ...

    def unreached(self) -> list[int]:
        """``--break-at`` ids of the last replay that it never stopped at."""
        ...


class Debugger(ReplayDebugger, Protocol):
    """What a debugger attached to a run is: the backends' stops and the native core's hooks."""

    def event_applied(self, execution: Any, event: Any) -> None: ...

    def resumed(self, execution: Any, event: Any, frame: types.FrameType | None) -> None: ...

    def divergence(self, execution: Any, error: BaseException) -> None: ...


#: makes the debugger of one replay (set when a debugger is attached)
DebuggerFactory = Callable[[], Debugger]


class MissingSDK(ReplaytestError):
    """The platform SDK a backend replays with is not installed: the history is not replayed
    (said as such, with what to install), which is not a failure of the user's code."""


class AmbiguousFormat(HistoryFormatError):
    """Two backends claim one document: refused, never settled by an order."""


@dataclass(frozen=True)
class Entry:
    """One replayable history inside a file (a file may hold several)."""

    path: Path
    index: int  # position in the file (0 for a single-history file)
    workflow_id: str | None  # the item's name
    workflow_type: str | None  # selectable with -k
    backend: str


@dataclass
class ReplaySettings:
    """What every replay of one run uses: built once per pytest session (xdist worker) or CLI run.

    Modes given as text are parsed here, once (a ValueError names the option); every backend
    reads the enums. Options of one backend only are in ``backend_options[name]``, as the user
    gave them (see ``replaytest_options``)."""

    modules: list[types.ModuleType] = field(default_factory=list)  # the user's, already imported
    module_names: list[str] = field(default_factory=list)  # as the user named them
    import_errors: dict[str, str] = field(default_factory=dict)  # named modules that did not import
    args_mismatch: ArgsMode | None = None  # None: the backend's default
    sandbox: SandboxMode = SandboxMode.STRICT
    project_dir: Path = field(default_factory=Path.cwd)
    backend_options: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    observer_factory: DebuggerFactory | None = None  # set when a debugger is attached
    extra_workflows: list[Any] = field(default_factory=list)  # workflows=[...] of a marker
    module_flag: str = "--module"  # how the user names a module here, for reports
    timeout: float | None = DEFAULT_REPLAY_TIMEOUT  # seconds per replay; None: no limit

    @property
    def under_pytest(self) -> bool:
        """Whether this run is a pytest session (else ``replaytest replay`` or ``view``)."""
        return self.module_flag == "--replay-module"

    def flag(self, pytest_flag: str) -> str:
        """How the user spells an option in this run, for reports: the pytest flag as given
        (``--replay-handler``) or the CLI's (``--handler``)."""
        return pytest_flag if self.under_pytest else "--" + pytest_flag.removeprefix("--replay-")

    @property
    def timeout_flag(self) -> str:
        """How the user sets the timeout here, for reports."""
        return self.flag("--replay-timeout")

    def import_problem(self, name: str, e: Exception) -> str:
        """Why a module the user named did not import, with the fix for this run (see
        :func:`replaytest.modules.import_problem`)."""
        from ..modules import import_problem

        return import_problem(name, e, self.project_dir, self.under_pytest)

    def __post_init__(self) -> None:
        if self.args_mismatch is not None:
            self.args_mismatch = parse_mode(ArgsMode, self.args_mismatch, "args_mismatch")
        self.sandbox = parse_mode(SandboxMode, self.sandbox, "sandbox")

    def option(self, backend: str, dest: str) -> list[str]:
        """The values given for one backend's option (see ``replaytest_options.Option``)."""
        return list(self.backend_options.get(backend, {}).get(dest, []))

    def observer(self) -> Debugger | None:
        """The debugger for one replay, or None when none is attached."""
        return self.observer_factory() if self.observer_factory is not None else None

    def describe_search(self) -> list[str]:
        """Where replay looked for workflow code, for reports of an unknown workflow type."""
        lines = []
        if not self.under_pytest:  # the CLI
            lines.append(
                f"searched the modules given with {self.module_flag}: " + ", ".join(self.module_names)
                if self.module_names
                else f"no modules given with {self.module_flag}"
            )
        elif self.module_names:
            lines.append("searched replay modules (--replay-module / replay_modules): " + ", ".join(self.module_names))
        else:
            lines.append("no replay modules configured (--replay-module / replay_modules)")
        lines.extend(f"could not import replay module {name}: {err}" for name, err in self.import_errors.items())
        return lines


class Backend(Protocol):
    name: str

    def claims(self, doc: Document) -> bool:
        """Is this parsed JSON document this backend's format? Cheap; imports no SDK."""
        ...

    def entries(self, path: Path, doc: Document) -> list[Entry]:
        """The replayable histories in ``doc``, for collection (never raises for bad content:
        replaying the entry reports what is wrong)."""
        ...

    def validate(self, doc: Document, display: str) -> None:
        """Raise HistoryFormatError (naming ``display`` and the event) if ``doc`` cannot be
        replayed at all; lets a debug session refuse a bad file before waiting for the IDE."""
        ...

    def session(self, settings: ReplaySettings) -> ContextManager[None]:
        """Held around all the replays of a run that use this backend."""
        ...

    def replay(self, entry: Entry, doc: Document, settings: ReplaySettings, *, display: str) -> ReplayResult:
        """Replay one entry against the user's code; raise a verdict from replaytest.report
        (or HistoryFormatError) when it does not replay. ``display`` names the file in reports."""
        ...


def registered() -> list[tuple[str, EntryPoint]]:
    """(name, entry point) of every installed backend, the native fallback last."""
    return list(_registered())


@functools.cache
def _registered() -> tuple[tuple[str, EntryPoint], ...]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        if ep.name in found and found[ep.name].value != ep.value:
            raise ReplaytestError(
                f"two installed backends are called {ep.name!r} ({found[ep.name].value} and {ep.value}): "
                "uninstall one of them"
            )
        found.setdefault(ep.name, ep)  # the same distribution may be found twice on sys.path
    if FALLBACK not in found:
        raise ReplaytestError(
            f"replaytest's own backends are not registered (no {GROUP} entry point {FALLBACK!r}): "
            "reinstall replaytest (pip install -e . in a source checkout)"
        )
    fallback = found.pop(FALLBACK)
    return (*sorted(found.items()), (FALLBACK, fallback))


def get(name: str) -> Backend:
    """The backend called ``name`` (importing its module on first use)."""
    for registered_name, ep in _registered():
        if registered_name == name:
            return _load(ep)
    raise LookupError(f"no backend called {name!r} is installed")


def backend_for(doc: Document, display: str = "<document>") -> Backend:
    """The backend whose format ``doc`` is; the native backend when none claims it (its
    schema validation then says precisely why the document is not a history). Every backend
    is asked, so no order decides: a document two backends claim is a HistoryFormatError
    naming ``display``."""
    claimed = [b for name, ep in _registered() if name != FALLBACK and (b := _load(ep)).claims(doc)]
    if len(claimed) > 1:
        raise AmbiguousFormat(
            display,
            "",
            f"both the {claimed[0].name} and the {claimed[1].name} backend read this document as one of "
            "their histories; a history file holds one format: export it again",
        )
    return claimed[0] if claimed else get(FALLBACK)


@functools.cache
def _load(ep: EntryPoint) -> Backend:
    """A registered backend object. Cached: this runs once per history file."""
    try:
        backend: Backend = ep.load()
    except Exception as e:
        raise ReplaytestError(
            f"the backend {ep.name!r} ({GROUP} entry point {ep.value}) cannot be loaded: {type(e).__name__}: {e}"
        ) from e
    if getattr(backend, "name", None) != ep.name:
        raise ReplaytestError(
            f"the backend registered as {ep.name!r} ({ep.value}) calls itself {getattr(backend, 'name', None)!r}: "
            "an entry point's name must be its backend's name"
        )
    return backend


class Sessions:
    """Each backend's ``session`` entered on its first use and held until :meth:`close`."""

    def __init__(self, settings: ReplaySettings) -> None:
        self.settings = settings
        self._open: set[str] = set()
        self._stack = contextlib.ExitStack()

    def ensure(self, backend: Backend) -> None:
        if backend.name not in self._open:
            self._stack.enter_context(backend.session(self.settings))
            self._open.add(backend.name)

    def close(self) -> None:
        self._stack.close()
        self._open.clear()

    def __enter__(self) -> Sessions:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def read_document(path: Path, display: str | None = None) -> Document:
    """A history file's document: bytes a backend decodes itself (its ``decode``, e.g. the
    gzipped JSON Lines of a Durable Task export), else JSON text. A HistoryFormatError names
    ``display`` (the path as given by default)."""
    from ..history import parse_json, read_bytes

    display = display or str(path)
    data = read_bytes(path, display)
    for _, ep in _registered():
        decode = getattr(_load(ep), "decode", None)
        doc: Document | None = None if decode is None else decode(data, display)
        if doc is not None:
            return doc
    parsed: Document = parse_json(data, source=display)
    return parsed


@contextlib.contextmanager
def sandbox_session(settings: ReplaySettings) -> Iterator[None]:
    """A backend's ``session`` when its replays run user code under replaytest's sandbox: one
    sandbox session (one freezegun start) for the run, none with ``--replay-sandbox=off``."""
    if settings.sandbox is SandboxMode.OFF:
        yield
        return
    from .. import sandbox

    with sandbox.session():
        yield


def replay_entry(
    entry: Entry, doc: Document, settings: ReplaySettings, sessions: Sessions, display: str
) -> ReplayResult:
    """Replay one entry through its backend, opening the backend's session on first use.

    A ``KeyboardInterrupt``, ``SystemExit`` or other ``BaseException`` that the user's code
    raised fails this history (a WorkflowTaskError at its line) and the run goes on; a real
    Ctrl-C (SIGINT to the process while it replays) still stops the run."""
    backend = get(entry.backend)
    sessions.ensure(backend)
    with ctrl_c() as pressed:
        try:
            if not getattr(backend, "alarm_bound", True) or settings.observer_factory is not None:
                return backend.replay(entry, doc, settings, display=display)  # see alarm_bound / someone debugs
            with bounded(settings.timeout, display, settings.timeout_flag):
                return backend.replay(entry, doc, settings, display=display)
        except Exception:
            raise
        except BaseException as e:
            if (pressed and isinstance(e, KeyboardInterrupt)) or isinstance(e, GeneratorExit):
                raise  # a real Ctrl-C stops the run
            if isinstance(e, Alarm):  # it rang as the replay ended, before the alarm was reset
                limit = settings.timeout or 0
                raise ReplayTimeout(timeout_message(display, limit, settings.timeout_flag, None, None)) from None
            raise raised_by_code(entry.workflow_id or entry.path.stem, entry.workflow_type, e, display) from None


__all__ = [
    "DEFAULT_REPLAY_TIMEOUT",
    "GROUP",
    "AmbiguousFormat",
    "Backend",
    "Debugger",
    "DebuggerFactory",
    "Document",
    "Entry",
    "MissingSDK",
    "ReplayDebugger",
    "ReplaySettings",
    "Sessions",
    "backend_for",
    "get",
    "parse_timeout",
    "progress",
    "read_document",
    "registered",
    "replay_entry",
    "sandbox_session",
    "timeout_message",
]
