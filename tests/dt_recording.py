"""Real Durable Task histories for the tests: the SDK's own in-memory gRPC backend, bound to
127.0.0.1 on a free port, with a real TaskHubGrpcWorker and TaskHubGrpcClient running the
orchestrators of :mod:`tests.dt_orchestrators.shop`. Written in the three forms users have:
the history-export JSON, the export's gzipped JSON Lines, and protobuf events as MessageToDict
writes them."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from durabletask import client as dt_client
from durabletask import worker as dt_worker
from durabletask.extensions.history_export import serialization
from durabletask.extensions.history_export.models import ExportFormat, ExportFormatKind
from durabletask.internal import orchestrator_service_pb2_grpc as stubs
from durabletask.testing import InMemoryOrchestrationBackend
from google.protobuf import json_format

from .dt_orchestrators import shop


class LoopbackBackend(InMemoryOrchestrationBackend):
    """The SDK's in-memory backend, listening on 127.0.0.1 only (its ``start`` binds ``[::]``)."""

    def start(self) -> str:
        self._shutdown_event.clear()
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=10))
        stubs.add_TaskHubSidecarServiceServicer_to_server(self, server)
        self._port = server.add_insecure_port("127.0.0.1:0")
        if not self._port:
            raise RuntimeError("the in-memory Durable Task backend could not bind 127.0.0.1")
        server.start()
        self._server = server
        return f"127.0.0.1:{self._port}"


@contextlib.contextmanager
def running_backend(extra: tuple[Any, ...] = ()) -> Iterator[tuple[str, dt_client.TaskHubGrpcClient]]:
    """A started backend + worker (all of shop's orchestrators and activities, and ``extra``
    orchestrators) + client."""
    for name in ("durabletask-client", "durabletask-worker", "durabletask"):
        logging.getLogger(name).setLevel(logging.ERROR)
    backend = LoopbackBackend()
    address = backend.start()
    worker = dt_worker.TaskHubGrpcWorker(host_address=address)
    for fn in (*shop.ORCHESTRATORS, *extra):
        worker.add_orchestrator(fn)
    for fn in shop.ACTIVITIES:
        worker.add_activity(fn)
    worker.start()
    client = dt_client.TaskHubGrpcClient(host_address=address)
    try:
        yield address, client
    finally:
        client.close()
        worker.stop()
        backend.stop(grace=0)


#: instance id → (orchestrator, input); what every recording holds
COMPLETED: dict[str, tuple[Any, Any]] = {
    "order-1": (shop.order_saga, {"id": "order-1", "sku": "lamp", "amount": 30, "address": "1 Main St"}),
    "order-2": (shop.order_saga, {"id": "order-2", "sku": "desk", "amount": 120, "address": None}),
    "approval-yes": (shop.approval, {"id": "approval-yes", "timeout": 30}),
    "approval-late": (shop.approval, {"id": "approval-late", "timeout": 0.2}),
    "fanout-1": (shop.fan_out, ["a", "bb", "ccc"]),
    "batch-1": (shop.batch, ["pen", "ink"]),
    "monitor-1": (shop.monitor, {"name": "build", "round": 0, "every": 0.05}),
    "report-1": (shop.nightly_report, "2026-12-01"),
    "shift-1": (shop.shift, "blue"),
}
#: still running when exported: waiting for an event (or a one-hour timer)
RUNNING: dict[str, tuple[Any, Any]] = {
    "approval-open": (shop.approval, {"id": "approval-open", "timeout": 3600}),
    "monitor-wait": (shop.monitor, {"name": "nightly", "round": 0, "every": 3600}),
}


def record(client: dt_client.TaskHubGrpcClient) -> dict[str, list[Any]]:
    """Run every instance to its end (the open approval: to where it waits); their histories."""
    for iid, (fn, data) in {**COMPLETED, **RUNNING}.items():
        client.schedule_new_orchestration(fn, input=data, instance_id=iid)
    client.wait_for_orchestration_start("approval-yes", timeout=30)
    client.raise_orchestration_event("approval-yes", "approve", data="ana")
    for iid in COMPLETED:
        state = client.wait_for_orchestration_completion(iid, timeout=60)
        assert state is not None and state.runtime_status.name in ("COMPLETED", "FAILED"), (iid, state)
    histories = {iid: client.get_orchestration_history(iid) for iid in COMPLETED}
    histories["approval-open"] = _until(client, "approval-open", "TimerCreatedEvent")
    histories["monitor-wait"] = _until(client, "monitor-wait", "TimerCreatedEvent")
    return histories


def _until(client: dt_client.TaskHubGrpcClient, iid: str, event_type: str) -> list[Any]:
    """The history of a running instance once it has recorded ``event_type`` and its episode ended."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        events = client.get_orchestration_history(iid)
        names = [type(e).__name__ for e in events]
        if event_type in names and names[-1] == "OrchestratorCompletedEvent":
            return events
        time.sleep(0.02)
    raise AssertionError(f"{iid} never recorded {event_type}")


def write_all(histories: dict[str, list[Any]], out: Path, client: dt_client.TaskHubGrpcClient) -> None:
    """<id>.json (export JSON), <id>.jsonl.gz (export JSON Lines), <id>.pb.json (MessageToDict list)."""
    out.mkdir(parents=True, exist_ok=True)
    from durabletask.internal import orchestrator_service_pb2 as pb

    for iid, events in histories.items():
        state = client.get_orchestration_state(iid)
        meta = serialization.orchestration_state_to_dict(state) if state is not None else None
        for kind, suffix in ((ExportFormatKind.JSON, ".json"), (ExportFormatKind.JSONL_GZIP, ".jsonl.gz")):
            blob = serialization.serialize_history(
                events, instance_id=iid, fmt=ExportFormat(kind=kind, schema_version="1.0"), metadata=meta
            )
            (out / "export" / (iid + suffix)).parent.mkdir(exist_ok=True)
            (out / "export" / (iid + suffix)).write_bytes(blob)
        stream = client._stub.StreamInstanceHistory(pb.StreamInstanceHistoryRequest(instanceId=iid))
        raw = [json_format.MessageToDict(e) for chunk in stream for e in chunk.events]
        (out / "proto").mkdir(exist_ok=True)
        (out / "proto" / f"{iid}.json").write_text(json.dumps(raw, indent=1))


def main(argv: list[str]) -> None:
    """``python -m tests.dt_recording OUT [--serve]``: record into OUT; with --serve, then print
    ``READY <address>`` and keep the backend up until stdin closes (for ``replaytest pull``)."""
    with running_backend() as (address, client):
        write_all(record(client), Path(argv[0]), client)
        if "--serve" in argv:
            print(f"READY {address}", flush=True)
            sys.stdin.read()
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
