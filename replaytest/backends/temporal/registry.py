"""Which ``@workflow.defn`` class replays a Temporal history: the one its task queue's worker
registers (``--replay-task-queue QUEUE=MODULE[:CLASS]``), else the one the replay modules
define under the history's workflow type. Two classes of one name are never a silent choice:
Temporal scopes a name to a worker, and versioned code often keeps V1 beside V2 in one module.

Imports temporalio: loaded with the replay.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from ...modules import import_spec, parse_task_queue
from ...report.divergence import UnknownWorkflowError
from .. import ReplaySettings
from . import NAME, _sdk, started_attributes


def label(cls: type) -> str:
    """``module:Class``, the form ``--replay-module`` accepts to pick this class."""
    return f"{cls.__module__}:{cls.__qualname__}"


def candidates(sources: Sequence[ModuleType | type]) -> dict[str, list[type]]:
    """Every ``@workflow.defn`` class (given, or defined in or imported into a module), by
    workflow type name, in the order named; a class reached twice counts once."""
    found: dict[str, list[type]] = {}
    for source in sources:
        values = [source] if isinstance(source, type) else list(vars(source).values())
        for value in values:
            if isinstance(value, type) and (name := _sdk.workflow_name(value)) is not None:
                classes = found.setdefault(name, [])
                if value not in classes:
                    classes.append(value)
    return found


def task_queue_of(history_doc: Any) -> str | None:
    queue = started_attributes(history_doc).get("taskQueue")
    name = queue.get("name") if isinstance(queue, dict) else None
    return name if isinstance(name, str) and name else None


def task_queue_flag(settings: ReplaySettings) -> str:
    return settings.flag("--replay-task-queue")


def queue_workers(settings: ReplaySettings, source: str) -> dict[str, tuple[list[str], list[Any]]]:
    """``--replay-task-queue QUEUE=MODULE[:CLASS]`` values: queue → (specs, imported modules or
    classes). A malformed value, or one that does not import, fails the history in one line."""
    flag = task_queue_flag(settings)
    workers: dict[str, tuple[list[str], list[Any]]] = {}
    for value in settings.option(NAME, "task_queues"):
        try:
            queue, target = parse_task_queue(value, flag)
            imported = import_spec(target)
        except Exception as e:
            raise UnknownWorkflowError(
                f"{source}: {flag} {value}: cannot import it: {settings.import_problem(value.partition('=')[2] or value, e)}"
            ) from None
        specs, sources = workers.setdefault(queue, ([], []))
        specs.append(target)
        sources.append(imported)
    return workers


def resolve(history_doc: Any, workflow_type: str, settings: ReplaySettings, source: str) -> dict[str, type]:
    """The workflows to replay this history with (its type among them), or UnknownWorkflowError
    in words: not registered, or registered by several classes (each named, and how to pick)."""
    queue = task_queue_of(history_doc)
    workers = queue_workers(settings, source)
    worker = workers.get(queue) if queue is not None else None
    by_queue = worker is not None
    sources = worker[1] if worker is not None else [*settings.modules, *settings.extra_workflows]
    found = candidates(sources)
    classes = found.get(workflow_type, [])
    queue_flag, module_flag = task_queue_flag(settings), settings.module_flag
    where = (
        f"by the worker of task queue {queue!r} ({queue_flag} {queue}={', '.join(worker[0])})"
        if worker is not None
        else "in the replay modules"
    )
    if len(classes) > 1:
        names = ", ".join(label(c) for c in classes)
        pick = f"{queue_flag} {queue}=MODULE:CLASS" if by_queue else f"{module_flag} MODULE:CLASS"
        also = (
            "" if by_queue or queue is None else f", or give its task queue a worker: {queue_flag} {queue}=MODULE:CLASS"
        )
        # versions side by side in one module: the newest (last) is the usual pick, shown as the
        # example; classes of different modules are one worker's each: none is offered
        one_module = len({c.__module__ for c in classes}) == 1
        example = f" (for example {pick.replace('MODULE:CLASS', label(classes[-1]))})" if one_module else ""
        raise UnknownWorkflowError(
            f"{source}: Temporal workflow type {workflow_type!r} is defined by {len(classes)} classes {where}: {names}; "
            f"replaytest does not choose one: name the class that replays this history with {pick}{example}{also}"
        )
    if not classes:
        known = ", ".join(sorted(found)) or "none"
        how = (
            f"add its class to {queue_flag} {queue}=MODULE[:CLASS]"
            if by_queue
            else f"pass the module that defines it with {module_flag}"
            + (" / replay_modules" if settings.under_pytest else "")
        )
        lines = [
            f"{source}: Temporal workflow type {workflow_type!r} is not registered {where} "
            f"(registered @workflow.defn classes: {known}); {how}"
        ]
        if not by_queue:
            lines.extend("  " + line for line in settings.describe_search())
            if workers and queue is not None:
                lines.append(
                    f"  its task queue {queue!r} has no {queue_flag} (configured: {', '.join(sorted(workers))})"
                )
        raise UnknownWorkflowError("\n".join(lines))
    # what the replay worker registers: every name defined by exactly one class
    return {name: defined[0] for name, defined in found.items() if len(defined) == 1}
