"""``replaytest pull``: histories from a live Temporal server become test files.

Lists executions with a visibility query and writes each one's history, exactly as the
Python client exports it, to ``DIR/<workflow-id>.json`` (``<workflow-id>-<run-id>.json`` when
one id has several runs in the result): ready for ``pytest --replay DIR``. Connection
settings come from temporalio's env config (``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``,
``TEMPORAL_API_KEY``, ``TEMPORAL_TLS*``, the config file), overridden by the options.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.service import RPCError

from ...history.io import file_name_for

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


async def _pull(
    out: Path,
    address: str | None,
    namespace: str | None,
    query: str | None,
    limit: int | None,
    overwrite: bool,
    progress: Callable[[str], None],
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
    try:
        # with a limit, one page of that size: no further page is left in flight at exit
        # (an RPC still pending when the loop closes crashes the interpreter at shutdown)
        page_size = min(limit, 1000) if limit else 1000
        async for execution in client.list_workflows(query or None, limit=limit, page_size=page_size):
            runs.append((execution.id, execution.run_id))
    except RPCError as e:
        what = f"the query {query!r}" if query else "listing workflows"
        raise PullError(f"the Temporal server at {target} (namespace {ns}) refused {what}: {_short(e)}") from None
    per_id = Counter(wid for wid, _ in runs)
    out.mkdir(parents=True, exist_ok=True)
    written = kept = 0
    for n, (wid, run_id) in enumerate(runs, 1):
        path = out / file_name_for(wid if per_id[wid] == 1 else f"{wid}-{run_id}")
        if path.exists() and not overwrite:
            kept += 1
            continue
        try:
            history = await client.get_workflow_handle(wid, run_id=run_id).fetch_history()
        except RPCError as e:
            raise PullError(
                f"the Temporal server at {target} did not return the history of {wid} (run {run_id}): {_short(e)}"
            ) from None
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(history.to_json())
        tmp.replace(path)
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
) -> Pulled:
    """Write the histories of the matching executions to ``out``; raise PullError."""
    return asyncio.run(_pull(out, address, namespace, query, limit, overwrite, progress or (lambda line: None)))


def main(
    out: str, address: str | None, namespace: str | None, query: str | None, limit: int | None, overwrite: bool
) -> int:
    """The CLI command: progress on a terminal, one summary line, exit 0/1. Ends the process
    itself: after a refused RPC, the Temporal client's Rust threads can still call into
    Python while the interpreter finalizes, which aborts it."""
    code = _main(out, address, namespace, query, limit, overwrite)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _main(
    out: str, address: str | None, namespace: str | None, query: str | None, limit: int | None, overwrite: bool
) -> int:
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
    return main(args.out, args.address, args.namespace, args.query, args.limit, args.overwrite)
