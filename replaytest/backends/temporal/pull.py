"""``replaytest pull``: histories from a live Temporal server become test files.

Lists executions with a visibility query and writes each one's history, exactly as the
Python client exports it, to ``DIR/<workflow-id>.json`` (``<workflow-id>@<run-id>.json`` once
one id has several runs: see :class:`FileNames`): ready for ``pytest --replay DIR``. Connection
settings come from temporalio's env config (``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``,
``TEMPORAL_API_KEY``, ``TEMPORAL_TLS*``, the config file), overridden by the options.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.service import RPCError

from ...history.io import file_name_for, write_atomically
from . import started_attributes

CONNECT_TIMEOUT = 15.0


class PullError(Exception):
    """One line for the user: what failed, naming the address."""


@dataclass
class Pulled:
    written: int
    kept: int
    target: str
    namespace: str


def _short(error: BaseException) -> str:
    text = " ".join(str(getattr(error, "message", "") or error).split())
    if "ConnectionRefused" in text or "Connection refused" in text:
        return "connection refused"
    if isinstance(error, asyncio.TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT:.0f} s"
    return text if len(text) <= 200 else text[:199] + "…"


def newest_per_type(
    runs: list[tuple[str, str]], types: dict[tuple[str, str], tuple[str, float]], n: int
) -> list[tuple[str, str]]:
    """The newest ``n`` executions (by start time) of each workflow type, in listing order."""
    by_type: dict[str, list[tuple[float, int]]] = {}
    for i, run in enumerate(runs):
        wtype, started = types[run]
        by_type.setdefault(wtype, []).append((started, i))
    keep = {i for entries in by_type.values() for _, i in sorted(entries, reverse=True)[:n]}
    return [run for i, run in enumerate(runs) if i in keep]


class FileNames:
    """One execution, one file, whatever was pulled before: ``<workflow-id>.json``, or
    ``<workflow-id>@<run-id>.json`` once an id has several runs (here or in the folder already).
    ``@`` is percent-encoded in any workflow id (``history.io.file_name_for``), so no id's file
    name can be another's run file. A ``<workflow-id>.json`` already there keeps the run it
    holds (``originalExecutionRunId`` of its start event); another run of that id gets a run
    file beside it, never a second copy and never a replacement."""

    def __init__(self, out: Path, runs: list[tuple[str, str]]) -> None:
        self.out = out
        self.runs_of: dict[str, set[str]] = {}
        for wid, run_id in runs:
            self.runs_of.setdefault(wid, set()).add(run_id)

    def run_file(self, wid: str, run_id: str) -> Path:
        return self.out / (file_name_for(wid, "") + "@" + file_name_for(run_id))

    def path_for(self, wid: str, run_id: str) -> Path:
        plain, own = self.out / file_name_for(wid), self.run_file(wid, run_id)
        if own.exists():
            return own
        if plain.exists() or plain.is_symlink():
            held = run_held_by(plain)
            if held == run_id:
                return plain
            if held is None and len(self.runs_of[wid]) == 1 and not self._run_files(wid):
                return plain  # not a history we wrote (an edit, say): the one run's file all the same
            return own
        if len(self.runs_of[wid]) > 1 or self._run_files(wid):
            return own
        return plain

    def _run_files(self, wid: str) -> list[Path]:
        return list(self.out.glob(glob.escape(file_name_for(wid, "")) + "@*.json"))


def run_held_by(path: Path) -> str | None:
    """The run id recorded in a history file's start event, or None (unreadable, or not one)."""
    try:
        if path.is_symlink() or path.stat().st_size > 512 * 1024 * 1024:
            return None
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    run_id = started_attributes(doc).get("originalExecutionRunId")
    return run_id if isinstance(run_id, str) and run_id else None


async def _pull(
    out: Path,
    address: str | None,
    namespace: str | None,
    query: str | None,
    limit: int | None,
    overwrite: bool,
    progress: Callable[[str], None],
    per_type: int | None = None,
) -> Pulled:
    config = ClientConfig.load_client_connect_config()
    if address:
        config["target_host"] = address
    if namespace:
        config["namespace"] = namespace
    target = config.get("target_host") or "localhost:7233"
    config["target_host"] = target
    ns = config.get("namespace") or "default"
    try:
        client = await asyncio.wait_for(Client.connect(**config), CONNECT_TIMEOUT)
    except Exception as e:
        raise PullError(f"cannot reach the Temporal server at {target}: {_short(e)}") from None
    runs: list[tuple[str, str]] = []
    types: dict[tuple[str, str], tuple[str, float]] = {}  # (id, run) → (workflow type, start time)
    try:
        # with a limit, one page of that size: no further page is left in flight at exit
        # (an RPC still pending when the loop closes crashes the interpreter at shutdown)
        page_size = min(limit, 1000) if limit else 1000
        async for execution in client.list_workflows(query or None, limit=limit, page_size=page_size):
            runs.append((execution.id, execution.run_id))
            started = execution.start_time.timestamp() if execution.start_time else 0.0
            types[(execution.id, execution.run_id)] = (execution.workflow_type, started)
    except RPCError as e:
        what = f"the query {query!r}" if query else "listing workflows"
        raise PullError(f"the Temporal server at {target} (namespace {ns}) refused {what}: {_short(e)}") from None
    if per_type is not None:
        runs = newest_per_type(runs, types, per_type)
    out.mkdir(parents=True, exist_ok=True)
    names = FileNames(out, runs)
    written = kept = 0
    for n, (wid, run_id) in enumerate(runs, 1):
        path = names.path_for(wid, run_id)
        if path.exists() and not overwrite:
            kept += 1
            continue
        try:
            history = await client.get_workflow_handle(wid, run_id=run_id).fetch_history()
        except RPCError as e:
            raise PullError(
                f"the Temporal server at {target} did not return the history of {wid} (run {run_id}): {_short(e)}"
            ) from None
        write_atomically(path, history.to_json())
        written += 1
        progress(f"[{n}/{len(runs)}] {path}")
    return Pulled(written, kept, target, ns)


def pull(
    out: Path,
    *,
    address: str | None = None,
    namespace: str | None = None,
    query: str | None = None,
    limit: int | None = None,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
    per_type: int | None = None,
) -> Pulled:
    """Write the histories of the matching executions to ``out``; raise PullError."""
    return asyncio.run(
        _pull(out, address, namespace, query, limit, overwrite, progress or (lambda line: None), per_type)
    )


def main(
    out: str,
    address: str | None,
    namespace: str | None,
    query: str | None,
    limit: int | None,
    overwrite: bool,
    per_type: int | None = None,
) -> int:
    """Pull, with progress on a terminal and one summary line; 0, or 1 for a PullError."""
    tty = sys.stderr.isatty()

    def progress(line: str) -> None:
        if tty:
            print(f"\r\033[K{line}", end="", file=sys.stderr, flush=True)

    try:
        done = pull(
            Path(out),
            address=address,
            namespace=namespace,
            query=query,
            limit=limit,
            overwrite=overwrite,
            progress=progress,
            per_type=per_type,
        )
    except PullError as e:
        if tty:
            print("\r\033[K", end="", file=sys.stderr)
        print(f"replaytest pull: {e}", file=sys.stderr)
        return 1
    if tty:
        print("\r\033[K", end="", file=sys.stderr)
    kept = f"; kept {done.kept} existing file(s) (--overwrite replaces them)" if done.kept else ""
    print(
        f"pulled {done.written} {'history' if done.written == 1 else 'histories'} from {done.target} "
        f"(namespace {done.namespace}) into {out}{kept}; replay them with `pytest --replay {out} "
        f"--replay-module YOUR.WORKFLOWS`"
    )
    return 0


def command(args: argparse.Namespace) -> int:
    """``replaytest pull`` (declared in ``replaytest_options.temporal``)."""
    if args.per_type is not None and args.per_type < 1:
        print(
            f"replaytest: error: --per-type {args.per_type}: keep at least 1 history per workflow type", file=sys.stderr
        )
        return 2
    code = main(args.out, args.address, args.namespace, args.query, args.limit, args.overwrite, args.per_type)
    # Ends the process itself: after a refused RPC, the Temporal client's Rust threads can still
    # call into Python while the interpreter finalizes, which aborts it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
