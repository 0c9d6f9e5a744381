"""The backend seam: one history format per backend, one harness for all of them.

A :class:`Backend` says whether a parsed JSON document is its format (by content, never by
file name), names the replayable histories in it cheaply (for pytest items and ``-k``),
holds whatever it needs for a whole run (``session``: the native sandbox, a Temporal replay
worker) and replays one history against the user's code — returning a backend-neutral
:class:`~replaytest.report.ReplayResult` or raising one of the verdicts in
:mod:`replaytest.report`. The pytest items, ``replaytest replay`` and the debugger call only
this seam; adding a backend is adding a module to :data:`BACKENDS`.

Backends are imported lazily, and a backend's ``claims`` must not import its platform's SDK:
a session with only native histories never imports temporalio or the AWS SDK.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import types
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..report.result import ReplayResult

#: (name, module) in sniffing order; the native backend is the fallback that explains why a
#: document is not a history at all.
BACKENDS: list[tuple[str, str]] = [
    ("temporal", "replaytest.backends.temporal"),
    ("aws", "replaytest.backends.aws"),
    ("native", "replaytest.backends.native"),
]


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
    """What every replay of one run uses: built once per pytest session (xdist worker) or CLI run."""

    modules: list[types.ModuleType] = field(default_factory=list)  # the user's, already imported
    module_names: list[str] = field(default_factory=list)  # as the user named them
    import_errors: dict[str, str] = field(default_factory=dict)  # named modules that did not import
    args_mismatch: str | None = None  # error | warn | ignore; None: the backend's default
    sandbox: str = "strict"  # strict | warn | off
    project_dir: Path = field(default_factory=Path.cwd)
    handlers: list[str] = field(default_factory=list)  # AWS: [FUNCTION=]MODULE:ATTR
    observer_factory: Callable[[], Any] | None = None  # set when a debugger is attached
    extra_workflows: list[Any] = field(default_factory=list)  # workflows=[...] of a marker
    module_flag: str = "--module"  # how the user names a module here, for reports

    def describe_search(self) -> list[str]:
        """Where replay looked for workflow code, for reports of an unknown workflow type."""
        lines = []
        if self.module_flag != "--replay-module":  # the CLI
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

    def claims(self, doc: Any) -> bool:
        """Is this parsed JSON document this backend's format? Cheap; imports no SDK."""
        ...

    def entries(self, path: Path, doc: Any) -> list[Entry]:
        """The replayable histories in ``doc``, for collection (never raises for bad content:
        replaying the entry reports what is wrong)."""
        ...

    def validate(self, doc: Any, display: str) -> None:
        """Raise HistoryFormatError (naming ``display`` and the event) if ``doc`` cannot be
        replayed at all; lets a debug session refuse a bad file before waiting for the IDE."""
        ...

    def session(self, settings: ReplaySettings) -> ContextManager[None]:
        """Held around all the replays of a run that use this backend."""
        ...

    def replay(self, entry: Entry, doc: Any, settings: ReplaySettings, *, display: str) -> ReplayResult:
        """Replay one entry against the user's code; raise a verdict from replaytest.report
        (or HistoryFormatError) when it does not replay. ``display`` names the file in reports."""
        ...


def get(name: str) -> Backend:
    """The backend called ``name`` (importing its module on first use)."""
    backend = _load(dict(BACKENDS)[name])
    if backend is None:
        raise LookupError(f"the {name} backend is not available in this installation")
    return backend


def backend_for(doc: Any) -> Backend:
    """The backend whose format ``doc`` is; the native backend when none claims it (its
    schema validation then says precisely why the document is not a history)."""
    for name, module in BACKENDS:
        backend = _load(module)
        if backend is not None and (name == "native" or backend.claims(doc)):
            return backend
    raise AssertionError("the native backend is always available")


@functools.cache
def _load(module: str) -> Backend | None:
    """A backend module's BACKEND; None for a backend missing from this installation. Cached:
    a failed import searches sys.path again every time, and this runs once per history file."""
    try:
        return importlib.import_module(module).BACKEND
    except ModuleNotFoundError as e:
        if e.name is not None and module.startswith(e.name):
            return None
        raise


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


def replay_entry(entry: Entry, doc: Any, settings: ReplaySettings, sessions: Sessions, display: str) -> ReplayResult:
    """Replay one entry through its backend, opening the backend's session on first use."""
    backend = get(entry.backend)
    sessions.ensure(backend)
    return backend.replay(entry, doc, settings, display=display)


__all__ = ["BACKENDS", "Backend", "Entry", "ReplaySettings", "Sessions", "backend_for", "get", "replay_entry"]
