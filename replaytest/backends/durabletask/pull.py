"""``replaytest pull --durabletask``: histories from a live Durable Task backend become test files.

Lists instances through ``TaskHubGrpcClient`` (the gRPC sidecar protocol every Durable Task
backend speaks: the Durable Task Scheduler, the Azure Functions host, Dapr, the SDK's in-memory
backend) and writes each one's history in the SDK's history-export JSON form,
``DIR/<instance-id>.json``, keeping files already there: ready for ``pytest --replay DIR``.
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from durabletask import client as dt_client
from durabletask.extensions.history_export import serialization
from durabletask.extensions.history_export.models import ExportFormat, ExportFormatKind

from ...history.io import file_name_for, write_atomically

CONNECT_TIMEOUT = 10.0


class PullError(Exception):
    """One line for the user: what failed, naming the address."""


@dataclass
class Pulled:
    written: int
    kept: int
    address: str


def _short(error: BaseException) -> str:
    if isinstance(error, grpc.RpcError):
        code = error.code() if hasattr(error, "code") else None
        details = error.details() if hasattr(error, "details") else ""
        if code == grpc.StatusCode.UNAVAILABLE:
            return "connection refused or no Durable Task backend listening there"
        return f"{code.name if code else 'error'}: {details}"[:200]
    text = " ".join(str(error).split())
    return text if len(text) <= 200 else text[:199] + "…"


def _reachable(address: str) -> None:
    """Fail at once, in one line, when nothing listens at ``address`` (gRPC alone would retry
    until its deadline)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise PullError(f"--address {address!r}: expected HOST:PORT, e.g. localhost:4001")
    try:
        socket.create_connection((host.strip("[]") or "localhost", int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as e:
        why = "connection refused" if isinstance(e, ConnectionRefusedError) else (e.strerror or str(e))
        raise PullError(f"cannot reach a Durable Task backend at {address}: {why}") from None


def pull(
    out: Path,
    *,
    address: str,
    taskhub: str | None = None,
    statuses: list[str] | None = None,
    instances: list[str] | None = None,
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Pulled:
    """Write the histories of the matching instances to ``out``; raise PullError."""
    _reachable(address)
    metadata = [("taskhub", taskhub)] if taskhub else None
    channel = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=CONNECT_TIMEOUT)
    except grpc.FutureTimeoutError:
        channel.close()
        raise PullError(
            f"cannot reach a Durable Task backend at {address}: no answer within {CONNECT_TIMEOUT:.0f} s"
        ) from None
    quiet = logging.getLogger("replaytest.durabletask.pull")  # the SDK's own logs every call at INFO
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    client = dt_client.TaskHubGrpcClient(channel=channel, metadata=metadata, logger=quiet)
    try:
        return _pull(client, out, address, statuses, instances, limit, progress or (lambda line: None))
    finally:
        client.close()
        channel.close()


def _pull(
    client: Any,
    out: Path,
    address: str,
    statuses: list[str] | None,
    instances: list[str] | None,
    limit: int | None,
    progress: Callable[[str], None],
) -> Pulled:
    try:
        if instances:
            ids = list(instances)
        else:
            wanted = [dt_client.OrchestrationStatus[s.upper()] for s in statuses or []]
            query = dt_client.OrchestrationQuery(runtime_status=wanted or None)
            ids = [s.instance_id for s in client.get_all_orchestration_states(query)]
    except grpc.RpcError as e:
        raise PullError(f"the Durable Task backend at {address} refused listing instances: {_short(e)}") from None
    ids = sorted(ids)[:limit] if limit else sorted(ids)
    out.mkdir(parents=True, exist_ok=True)
    written = kept = 0
    fmt = ExportFormat(kind=ExportFormatKind.JSON, schema_version="1.0")
    for n, iid in enumerate(ids, 1):
        path = out / file_name_for(iid)
        if path.exists():
            kept += 1
            continue
        try:
            state = client.get_orchestration_state(iid)
            if state is None:
                raise PullError(f"the Durable Task backend at {address} has no instance {iid!r}")
            events = client.get_orchestration_history(iid)
        except grpc.RpcError as e:
            raise PullError(
                f"the Durable Task backend at {address} did not return the history of {iid}: {_short(e)}"
            ) from None
        blob = serialization.serialize_history(
            events, instance_id=iid, fmt=fmt, metadata=serialization.orchestration_state_to_dict(state)
        )
        write_atomically(path, blob)
        written += 1
        progress(f"[{n}/{len(ids)}] {path}")
    return Pulled(written, kept, address)


def command(args: Any) -> int:
    """``replaytest pull --durabletask`` (declared in replaytest_options.durabletask)."""
    return main(args.out, args.address, args.taskhub, args.status, args.instance, args.limit)


def main(
    out: str,
    address: str,
    taskhub: str | None = None,
    statuses: list[str] | None = None,
    instances: list[str] | None = None,
    limit: int | None = None,
) -> int:
    """The CLI command: one summary line, exit 0/1."""
    try:
        done = pull(Path(out), address=address, taskhub=taskhub, statuses=statuses, instances=instances, limit=limit)
    except PullError as e:
        print(f"replaytest pull: {e}", file=sys.stderr)
        return 1
    kept = f"; kept {done.kept} existing file(s)" if done.kept else ""
    print(
        f"pulled {done.written} {'history' if done.written == 1 else 'histories'} from {done.address} into {out}"
        f"{kept}; replay them with `pytest --replay {out} --replay-module YOUR.ORCHESTRATORS`"
    )
    return 0


__all__ = ["PullError", "Pulled", "command", "main", "pull"]
