"""``replaytest view FILE... [-o OUT.html] [--module M] [--handler H]``: one self-contained
HTML page with a timeline per history; with modules (or handlers) each history is replayed
first and its verdict is marked on the page.

Every file and history gets its section: a bad file is shown with its one-line reason and
the others are still drawn and replayed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from replaytest_options import history_suffixes

from ..backends import DEFAULT_REPLAY_TIMEOUT, Entry, ReplaySettings, Sessions, backend_for, read_document, replay_entry
from ..definitions import ReplaytestError
from ..history import history_files
from ..modes import ArgsMode, SandboxMode
from .replay import import_user_code

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_OUT = "replaytest-view.html"


def view_files(
    paths: Sequence[str | os.PathLike[str]],
    output: str | None = None,
    modules: Sequence[str] = (),
    *,
    args_mismatch: ArgsMode | None = None,
    sandbox: SandboxMode = SandboxMode.STRICT,
    backend_options: dict[str, dict[str, list[str]]] | None = None,
    timeout: float | None = DEFAULT_REPLAY_TIMEOUT,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Write the page; 0 when written (and every replay, if any, passed), 1 when a history is
    bad or a replay failed, 2 for a usage mistake (nothing written)."""
    from ..view.sections import section, tally_text, write_page
    from ..view.verdict import verdict

    out, err = out or sys.stdout, err or sys.stderr
    backend_options = backend_options or {}
    replaying = bool(modules) or any(v for options in backend_options.values() for v in options.values())
    try:
        files = history_files(paths, history_suffixes())
        imported = import_user_code(modules, backend_options)
    except ReplaytestError as e:
        print(f"replaytest: error: {e}", file=err, flush=True)
        return EXIT_USAGE
    target = Path(output or DEFAULT_OUT)
    if target.is_dir():
        print(f"replaytest: error: -o {target} is a directory; name a file, e.g. -o {target / DEFAULT_OUT}", file=err)
        return EXIT_USAGE
    settings = ReplaySettings(
        imported,
        list(modules),
        args_mismatch=args_mismatch,
        sandbox=sandbox,
        project_dir=Path.cwd(),
        backend_options=backend_options,
        timeout=timeout,
    )
    sections: list[dict[str, Any]] = []
    bad = False
    with Sessions(settings) as sessions:
        for path in files:
            display = str(path)
            try:
                doc: Any = read_document(path, display)
                entries: list[Entry | None] = list(backend_for(doc, display).entries(path, doc))
            except ReplaytestError as e:
                doc, entries = e, [None]
            for entry in entries:
                result: Any = None
                if entry is None:
                    result = doc
                elif replaying:
                    try:
                        result = replay_entry(entry, doc, settings, sessions, display)
                    except Exception as e:
                        result = e
                v = verdict(result, display) if result is not None else None
                s = section(entry, doc, display, v)
                bad = bad or (v is not None and v["outcome"] not in ("passed", "not_replayed")) or bool(s["error"])
                sections.append(s)
    title = sections[0]["workflow_id"] if len(sections) == 1 else f"{len(sections)} histories"
    try:
        written = write_page(sections, target, f"replaytest · {title}")
    except OSError as e:
        print(f"replaytest: error: cannot write {target}: {e.strerror or e}; choose another -o", file=err)
        return EXIT_USAGE
    tally = tally_text(sections)
    print(
        f"wrote {written} ({len(sections)} histor{'y' if len(sections) == 1 else 'ies'}: {tally}); "
        f"open it in a browser: {written.resolve().as_uri()}",
        file=out,
    )
    return EXIT_FAILED if bad else EXIT_OK
