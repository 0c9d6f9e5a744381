"""Every name of the durabletask SDK this backend touches, in one place (pinned: 1.12.x).

The SDK has no public replayer: its worker's ``_OrchestrationExecutor`` and
``_RuntimeOrchestrationContext`` are private. :data:`PRIVATE_NAMES` lists each private name
used here; ``tests/test_durabletask_sdk.py`` fails the day one of them disappears.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from durabletask import task, worker
from durabletask.internal import orchestrator_service_pb2 as pb
from durabletask.serialization import JsonDataConverter
from google.protobuf import json_format

from .history import DtEvent

try:
    from importlib.metadata import version as _version

    SDK_VERSION = _version("durabletask")
except Exception:  # pragma: no cover - an unusual install without metadata
    SDK_VERSION = "unknown"


def _context_attr(name: str) -> Callable[[], object]:
    def resolve() -> object:
        ctx = worker._RuntimeOrchestrationContext("i", worker._Registry(), JsonDataConverter())
        getattr(ctx, name)  # AttributeError the day it is gone (its value may well be None)
        return name

    return resolve


def _retry_action() -> object:
    """A retry timer's parent task and that task's action: what :func:`retry_parent_seq` reads."""
    policy = task.RetryPolicy(first_retry_interval=timedelta(seconds=1), max_number_of_attempts=2)
    retryable: task.RetryableTask[Any] = task.RetryableTask(
        policy, pb.OrchestratorAction(id=1), datetime(2000, 1, 1), False
    )
    timer = task.TimerTask()
    timer.set_retryable_parent(retryable)
    return getattr(timer._retryable_parent, "_action")  # noqa: B009 (typed as Optional)


#: name → how to reach it: every private name of the SDK this backend touches
#: (``tests/test_sdk_names.py`` resolves each one)
PRIVATE_NAMES: dict[str, Callable[[], object]] = {
    "worker._OrchestrationExecutor": lambda: worker._OrchestrationExecutor,
    "worker._OrchestrationExecutor.process_event": lambda: worker._OrchestrationExecutor.process_event,
    "worker._RuntimeOrchestrationContext": lambda: worker._RuntimeOrchestrationContext,
    "worker._RuntimeOrchestrationContext.next_sequence_number": (
        lambda: worker._RuntimeOrchestrationContext.next_sequence_number
    ),
    "worker._Registry.add_named_orchestrator": lambda: worker._Registry.add_named_orchestrator,
    **{
        f"_RuntimeOrchestrationContext.{name}": _context_attr(name)
        for name in (
            "_pending_actions",
            "_pending_tasks",
            "_is_complete",
            "_completion_status",
            "_result",
            "_new_input",
            "_is_replaying",
            "_generator",
        )
    },
    "task.TimerTask._retryable_parent._action": _retry_action,
}

NonDeterminismError = task.NonDeterminismError
TaskFailedError = task.TaskFailedError

_LOG = logging.getLogger("replaytest.durabletask")
_LOG.addHandler(logging.NullHandler())
_LOG.propagate = False
_LOG.setLevel(logging.INFO)  # as a worker's logger: the executor skips its debug summaries


def to_pb(event: DtEvent) -> Any:
    """The event as the SDK's protobuf ``HistoryEvent``. Fields are set directly (strings,
    numbers, wrapper values, timestamps, enums: twice as fast as ``ParseDict``, which is half
    the cost of a replay otherwise); anything else goes through ``ParseDict``. Nothing is
    evaluated either way."""
    ev = pb.HistoryEvent(eventId=event.seq)
    if event.time is not None:
        ev.timestamp.FromDatetime(event.time)
    body = getattr(ev, event.kind)
    body.SetInParent()
    try:
        for key, value in event.data.items():
            _set(body, key, value)
    except (ValueError, TypeError, AttributeError, KeyError, json_format.ParseError):
        doc: dict[str, Any] = {"eventId": event.seq, event.kind: event.data}
        if event.time is not None:
            doc["timestamp"] = event.time.isoformat().replace("+00:00", "Z")
        return json_format.ParseDict(doc, pb.HistoryEvent(), ignore_unknown_fields=True)
    return ev


_WRAPPERS = {"google.protobuf.StringValue", "google.protobuf.Int32Value", "google.protobuf.BoolValue"}


def _set(message: Any, key: str, value: Any) -> None:
    field = message.DESCRIPTOR.fields_by_camelcase_name.get(key) or message.DESCRIPTOR.fields_by_name.get(key)
    if field is None:
        return  # ignore_unknown_fields, as ParseDict is called
    if field.label == field.LABEL_REPEATED:
        raise ValueError("repeated")  # maps and lists: ParseDict
    if field.message_type is None:
        if field.enum_type is not None and isinstance(value, str):
            value = field.enum_type.values_by_name[value].number
        setattr(message, field.name, value)
        return
    full = field.message_type.full_name
    if full in _WRAPPERS:
        getattr(message, field.name).value = value
    elif full == "google.protobuf.Timestamp":
        getattr(message, field.name).FromJsonString(value)
    else:
        json_format.ParseDict(value, getattr(message, field.name), ignore_unknown_fields=True)


class ReplayContext(worker._RuntimeOrchestrationContext):
    """The SDK's orchestration context, telling replaytest each sequence number it allocates
    (the moment the orchestrator issues a command, with the orchestrator's frame on the stack)."""

    on_sequence: Callable[[int], None] | None = None
    on_continue: Callable[[], None] | None = None

    def continue_as_new(self, new_input: Any, *, save_events: bool = False, new_version: str | None = None) -> None:
        if self.on_continue is not None and not self._is_complete:
            self.on_continue()
        super().continue_as_new(new_input, save_events=save_events, new_version=new_version)

    def next_sequence_number(self) -> int:
        n = super().next_sequence_number()
        if self.on_sequence is not None:
            self.on_sequence(n)
        return n

    # ---- reads of the context's private state, named for what they mean ---------------------
    def pending(self) -> dict[int, Any]:
        return self._pending_actions

    def pending_task(self, seq: int) -> Any:
        return self._pending_tasks.get(seq)

    @property
    def complete(self) -> bool:
        return bool(self._is_complete)

    @property
    def status(self) -> int | None:
        return self._completion_status

    @property
    def result(self) -> Any:
        return self._result

    @property
    def new_input(self) -> Any:
        return self._new_input

    def generator(self) -> Any:
        return self._generator


def new_run(instance_id: str, orchestrator_name: str, fn: Callable[..., Any]) -> tuple[Any, ReplayContext]:
    """(executor, context) for one replay: the SDK's executor with ``fn`` registered under the
    history's orchestrator name, and a fresh replaying context."""
    registry = worker._Registry()
    registry.add_named_orchestrator(orchestrator_name, fn)
    converter = JsonDataConverter()
    executor = worker._OrchestrationExecutor(registry, _LOG, converter)
    ctx = ReplayContext(instance_id, registry, converter)
    ctx._is_replaying = True
    return executor, ctx


def action_kind(action: Any) -> str:
    """scheduleTask | createTimer | createSubOrchestration | sendEvent | completeOrchestration | …"""
    return str(action.WhichOneof("orchestratorActionType"))


def retry_parent_seq(timer_task: Any) -> int | None:
    """The sequence number of the activity a retry timer waits to re-schedule (None otherwise)."""
    parent = getattr(timer_task, "_retryable_parent", None)
    action = getattr(parent, "_action", None)
    return int(action.id) if action is not None else None


def new_executor_for_bench(fn: Callable[..., Any], name: str) -> Any:
    """The SDK's executor alone (what a worker runs), for the bench's baseline."""
    registry = worker._Registry()
    registry.add_named_orchestrator(name, fn)
    return worker._OrchestrationExecutor(registry, _LOG, JsonDataConverter())


__all__ = [
    "PRIVATE_NAMES",
    "SDK_VERSION",
    "NonDeterminismError",
    "ReplayContext",
    "TaskFailedError",
    "action_kind",
    "new_run",
    "to_pb",
]
