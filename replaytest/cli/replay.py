"""``replaytest replay PATH... [--module M] [--debug]``: one replay loop, with or without a
debugger, through the backend seam — so every history format reads and reports the same.

Each file is read and parsed once; the backend that claims it replays each history in it.
One bad file or failing history is a ``FAIL`` line and the rest still replay. With a
debugger the files are read (and the modules imported) before the server starts, so mistakes
show before anyone attaches.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from replaytest_options import history_suffixes

from ..backends import (
    DEFAULT_REPLAY_TIMEOUT,
    AmbiguousFormat,
    Entry,
    MissingSDK,
    ReplaySettings,
    Sessions,
    backend_for,
    read_document,
    replay_entry,
)
from ..definitions import ReplaytestError
from ..history import HistoryFormatError, history_files
from ..modes import ArgsMode, SandboxMode
from ..modules import ModuleImportError, import_problem, import_spec
from ..report import report_lines
from ..report.text import safe

if TYPE_CHECKING:
    from ..debug import DebugOptions, ReplayDebugging

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def import_user_code(modules: Sequence[str], backend_options: dict[str, dict[str, list[str]]]) -> list[Any]:
    """The modules ``--module`` names (``MODULE`` or ``MODULE:NAME``), imported from the current
    directory (also put on sys.path when only a backend option names code, e.g. ``--handler``);
    a ModuleImportError that says why, and for a src layout what fixes it."""
    names_code = modules or any(values for o in backend_options.values() for values in o.values())
    if names_code and "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # `--module app.workflows` from the project directory
    imported = []
    for m in modules:
        try:
            imported.append(import_spec(m))
        except ModuleImportError as e:
            raise ModuleImportError(import_problem(m, e, Path.cwd(), under_pytest=False)) from None
    return imported


def replay_files(
    paths: Sequence[str | os.PathLike[str]],
    modules: Sequence[str] = (),
    *,
    args_mismatch: ArgsMode | None = None,
    sandbox: SandboxMode = SandboxMode.STRICT,
    debug: DebugOptions | None = None,
    backend_options: dict[str, dict[str, list[str]]] | None = None,
    timeout: float | None = DEFAULT_REPLAY_TIMEOUT,
    out: TextIO | None = None,
    err: TextIO | None = None,
    announce: Callable[[str], None] | None = None,
) -> int:
    """Replay every history in ``paths``; print one report per history to ``out``.

    ``debug`` is a :class:`replaytest.debug.DebugOptions` to wait for an IDE first. Returns
    0 when all replayed, 1 when some history failed, 2 when nothing could be replayed (bad
    options or paths, a module that does not import, the debugger could not start)."""
    out = out or sys.stdout
    err = err or sys.stderr
    say = announce or (lambda line: print(line, file=err, flush=True))
    try:
        if debug is not None:
            debug.check()
        files = history_files(paths, history_suffixes())
        imported = import_user_code(modules, backend_options or {})
    except ReplaytestError as e:
        print(f"replaytest: error: {e}", file=err, flush=True)
        return EXIT_USAGE
    # Each file is read when its turn comes (not all held at once) -- except under a debugger,
    # which reads them all first to refuse a bad file before anyone attaches.
    docs: Iterable[tuple[Path, Any]] = map(_read, files)
    if debug is not None:
        docs = list(docs)
        try:
            for path, doc in docs:
                if isinstance(doc, Exception):
                    raise doc
                backend_for(doc, str(path)).validate(doc, str(path))
        except ReplaytestError as e:
            print(f"replaytest: error: {e}", file=err, flush=True)
            return EXIT_USAGE
    debugging: ReplayDebugging | None = None
    settings = ReplaySettings(
        imported,
        list(modules),
        args_mismatch=args_mismatch,
        sandbox=sandbox,
        project_dir=Path.cwd(),
        backend_options=backend_options or {},
        timeout=timeout,
    )
    if debug is not None:
        from ..debug import DebugError, ReplayDebugging, start

        _warn_unreachable_breaks(debug.break_at, docs, say)
        try:
            start(debug, announce=say)
        except DebugError as e:
            print(f"replaytest: error: {e}", file=err, flush=True)
            return EXIT_USAGE
        debugging = ReplayDebugging(debug, say)
        settings.observer_factory = debugging.observer
    # unusable: not a history replay could use; no_sdk: its SDK is not installed (both counted as not replayed)
    total = failed = unusable = no_sdk = 0
    with Sessions(settings) as sessions:
        for path, doc in docs:
            display = safe(str(path))  # a file name is anyone's text too: never a forged or restyled line
            entries: list[Entry | None] = [None]
            if not isinstance(doc, Exception):
                try:
                    entries = list(backend_for(doc, display).entries(path, doc))
                except AmbiguousFormat as e:
                    doc = e
            for entry in entries:
                total += 1
                result: Any
                if entry is None:
                    result = doc
                else:
                    try:
                        result = replay_entry(entry, doc, settings, sessions, display)
                    except Exception as e:
                        result = e
                try:
                    ok, lines = report_lines(display, result)
                except Exception as e:  # a bug in a report: said in one line, the next history still runs
                    ok, lines = report_lines(display, e)
                failed += not ok
                unusable += not ok and isinstance(result, HistoryFormatError)
                no_sdk += not ok and isinstance(result, MissingSDK)
                print("\n".join(lines), file=out, flush=True)
                if ok and debugging is not None:
                    _report_missed_breaks(display, result.events_replayed, say, debugging)
    replayed = total - unusable - no_sdk
    summary = (
        f"{replayed} histor{'y' if replayed == 1 else 'ies'} replayed: {total - failed} ok, "
        f"{failed - unusable - no_sdk} failed"
    )
    if unusable:
        summary += f"; {unusable} file{'' if unusable == 1 else 's'} not replayed: not a usable history (FAIL above)"
    if no_sdk:
        whose = "history not replayed: its" if no_sdk == 1 else "histories not replayed: their"
        summary += f"; {no_sdk} {whose} SDK is not installed (FAIL above)"
    print(summary, file=out)
    return EXIT_FAILED if failed else EXIT_OK


def _read(path: Path) -> tuple[Path, Any]:
    """(path, the parsed document) or (path, the HistoryFormatError saying why not)."""
    try:
        return path, read_document(path)
    except ReplaytestError as e:
        return path, e


def _event_count(doc: Any) -> int:
    events = doc.get("events", doc.get("Events")) if isinstance(doc, dict) else None  # native / AWS
    return len(events) if isinstance(events, list) else 0


def _warn_unreachable_breaks(
    break_at: Sequence[int], docs: Iterable[tuple[Path, Any]], say: Callable[[str], None]
) -> None:
    longest = max((_event_count(d) for _, d in docs), default=0)
    for n in break_at:
        if n > longest:
            say(
                f"replaytest: --break-at {n}: no history has that many events (the longest has {longest}); it will not stop"
            )


def _report_missed_breaks(display: str, events: int, say: Callable[[str], None], debugging: ReplayDebugging) -> None:
    missed, _ = debugging.missed(events)  # beyond the history: said once, before the replays
    if missed:
        say(
            f"replaytest: --break-at {', '.join(map(str, missed))}: no workflow code received "
            f"{'that event' if len(missed) == 1 else 'those events'} in {display}, so it did not stop"
        )
