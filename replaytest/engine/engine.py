"""The ``Engine`` facade: start workflows, signal them, run a worker, read their histories.

    engine = Engine("app.db", clock="virtual").register(orders)
    handle = engine.start(orders.process_order, {"items": [...]}, id="order-42")
    handle.result()                       # runs the worker here until the workflow closes
    engine.history("order-42").save("histories/order-42.json")

An Engine is also a worker (with its own sticky cache of live executions); any number of
Engines, in any number of processes, may share one database file.
"""

from __future__ import annotations

import inspect
import math
import secrets
import shlex
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..core.frames import blocked_source
from ..definitions import seconds, to_payload
from ..history import History
from ..modes import SandboxMode, parse_mode
from . import transitions as tx
from .clock import LAST_DUE_MS, Clock, make_clock
from .errors import EngineError, WorkflowBlockedError, WorkflowFailedError, WorkflowNotFoundError, describe_failure
from .hooks import FaultHooks
from .registry import Registry
from .store import Run, Store
from .watchdog import DEFAULT_DEADLOCK_TIMEOUT
from .worker import Worker, WorkStats

DEFAULT_DB = ".replaytest/engine.db"


@dataclass
class WorkflowInfo:
    """One line of ``engine.list()``: the newest run of a workflow id."""

    workflow_id: str
    run_id: str
    workflow_type: str
    status: str  # running | completed | failed
    started_at: str
    closed_at: str | None
    events: int
    task_failure: dict[str, Any] | None = None  # the failure of a workflow task that keeps failing
    task_attempt: int | None = None

    def has_status(self, status: str) -> bool:
        """``list --status`` and ``export --status``: "failed" takes in a running workflow whose
        workflow task keeps failing (a poison workflow)."""
        return self.status == status or (status == "failed" and bool(self.task_failure))


def _text(value: str, what: str) -> str:
    """``value`` if SQLite can store it as UTF-8 text; else one clear EngineError."""
    if not isinstance(value, str):
        raise EngineError(f"{what} must be a string, not {value!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise EngineError(
            f"{what} {value!r} is not valid Unicode (it contains a lone surrogate); "
            "ids and names are stored as UTF-8 text"
        ) from None
    return value


class WorkflowHandle:
    def __init__(self, engine: Engine, workflow_id: str, run_id: str) -> None:
        self.engine, self.id, self.run_id = engine, workflow_id, run_id

    def __repr__(self) -> str:
        return f"<WorkflowHandle {self.id} run {self.run_id[:8]}>"

    @property
    def status(self) -> str:
        return self._run().status

    def _run(self) -> Run:
        run = self.engine.store.run(self.run_id)
        assert run is not None
        return run

    def history(self) -> History:
        return self.engine.history(self.id, run_id=self.run_id)

    def signal(self, name: str, payload: Any = None) -> None:
        self.engine.signal(self.id, name, payload)

    def result(self, timeout: float | None = None) -> Any:
        """Run this engine's worker on this workflow only until it closes; return its result.

        Raises WorkflowFailedError (an ApplicationError) if it failed. Without ``timeout``,
        raises WorkflowBlockedError as soon as nothing can run (it waits for a signal, or its
        code keeps raising); with one, keeps polling (other processes may signal it or run
        its tasks) and raises TimeoutError after ``timeout`` seconds. If another thread is
        running this engine's worker (``run_worker``), only waits for it.
        """
        deadline = None if timeout is None else time.monotonic() + timeout

        def done() -> bool:
            return self._run().status != "running" or (deadline is not None and time.monotonic() > deadline)

        worker = self.engine.worker
        while True:
            if self._run().status == "running" and not worker.busy:
                worker.run(until_idle=True, stop_when=done, runs=(self.run_id,))
            run = self._run()
            if run.status == "completed":
                return self.engine.store.event(run.run_id, run.last_event_id).attrs["result"]
            if run.status == "failed":
                raise WorkflowFailedError(
                    self.id, self.engine.store.event(run.run_id, run.last_event_id).attrs["failure"]
                )
            if deadline is None and not worker.busy:
                raise WorkflowBlockedError(self.id, self.engine.blocked_reason(self.id, self.run_id))
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(
                    f"workflow {self.id} did not finish within {timeout:g}s: "
                    f"{self.engine.blocked_reason(self.id, self.run_id)}"
                )
            time.sleep(worker.poll_interval)  # another thread runs the worker, or we wait for others


class Engine:
    """An embedded durable engine on one SQLite file. ``clock`` is "real" (default),
    "virtual" (time skips ahead when nothing else can run) or a Clock instance; ``sandbox``
    is the mode workflow code runs under (strict, warn, off, or None for no sandbox)."""

    def __init__(
        self,
        path: str | Path = DEFAULT_DB,
        clock: Clock | str | None = None,
        *,
        sandbox: SandboxMode | str | None = SandboxMode.STRICT,
        lease_seconds: float = 30.0,
        poll_interval: float = 0.1,
        max_concurrent_activities: int = 8,
        faults: FaultHooks | None = None,
        deadlock_timeout: float | None = DEFAULT_DEADLOCK_TIMEOUT,
    ) -> None:
        if sandbox is not None:  # None: no sandbox at all
            sandbox = parse_mode(SandboxMode, sandbox, "sandbox")
        if not (isinstance(lease_seconds, (int, float)) and math.isfinite(lease_seconds) and lease_seconds > 0):
            raise EngineError(
                f"lease_seconds must be a positive number of seconds, not {lease_seconds!r} "
                "(how long a claimed task stays this worker's without renewal)"
            )
        self.path = str(path)
        self.store = Store(self.path)
        self.clock = make_clock(clock)
        self.clock.attach(self.store)
        self.registry = Registry()
        self.worker = Worker(
            self.store,
            self.clock,
            self.registry,
            sandbox=sandbox,
            lease_seconds=lease_seconds,
            poll_interval=poll_interval,
            max_concurrent_activities=max_concurrent_activities,
            deadlock_timeout=deadlock_timeout,
        )
        if faults is not None:
            self.set_faults(faults)

    def set_faults(self, faults: FaultHooks | None) -> None:
        """Inject faults (a ``replaytest.testing.faults.FaultInjector``, or None to stop): it sees every
        activity attempt before it runs and every event appended and committed."""
        self.store.faults = faults
        self.worker.activities.faults = faults
        if faults is not None:
            faults.attach(self)

    def __repr__(self) -> str:
        return f"<Engine {self.path} {self.clock.describe()}>"

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    def register(self, *items: Any) -> Engine:
        """Register workflows and activities: functions, modules, or module names."""
        self.registry.add(*items)
        return self

    # ------------------------------------------------------------------ client side
    def start(
        self,
        workflow: Callable[..., Any] | str,
        *args: Any,
        id: str | None = None,
        seed: int | None = None,
        run_id: str | None = None,
        id_reuse_policy: str = "reject_duplicate",
    ) -> WorkflowHandle:
        """Start a workflow (a @workflow.defn function, a registered type name or
        "module:function"). ``seed`` and ``run_id`` are for reproducible fixtures.

        An id that is running cannot be started again. An id whose last run has closed is
        refused too unless ``id_reuse_policy`` allows it: ``"allow_duplicate"`` (a new run,
        of any type) or ``"allow_duplicate_failed_only"`` (only after a failed run); as in
        Temporal, hyphens may stand for underscores."""
        policy = id_reuse_policy.replace("-", "_") if isinstance(id_reuse_policy, str) else id_reuse_policy
        if policy not in tx.ID_REUSE_POLICIES:
            raise EngineError(
                f"id_reuse_policy must be one of {', '.join(tx.ID_REUSE_POLICIES)}, not {id_reuse_policy!r}"
            )
        defn = self.registry.workflow(workflow)
        signature = inspect.signature(defn.fn)
        try:
            signature.bind(*args)
        except TypeError as e:
            params = ", ".join(signature.parameters)
            raise EngineError(
                f"workflow {defn.name}({params}) cannot be started with {len(args)} argument(s): {e}"
            ) from None
        payload = to_payload(list(args), f"the input of workflow {defn.name}")
        workflow_id = _text(id, "workflow id") if id else f"{defn.name}-{uuid.uuid4().hex[:8]}"
        if run_id is not None:
            _text(run_id, "run id")
        run = tx.start_run(
            self.store,
            workflow_id=workflow_id,
            run_id=run_id or uuid.uuid4().hex,
            workflow_type=defn.name,
            module=defn.module,
            args=payload,
            seed=seed if seed is not None else secrets.randbits(63),
            now_ms=self.clock.now_ms(),
            id_reuse_policy=policy,
        )
        return WorkflowHandle(self, workflow_id, run.run_id)

    def get_handle(self, workflow_id: str) -> WorkflowHandle:
        run = self._latest(workflow_id)
        return WorkflowHandle(self, workflow_id, run.run_id)

    def signal(self, workflow_id: str, name: str, payload: Any = None) -> None:
        """Deliver a signal: recorded as WorkflowExecutionSignaled, wakes the workflow."""
        _text(workflow_id, "workflow id")
        _text(name, "signal name")
        payload = to_payload(payload, f"the payload of signal {name!r}")
        tx.signal(self.store, workflow_id, name, payload, self.clock.now_ms())

    def history(self, workflow_id: str, run_id: str | None = None) -> History:
        """The history of ``workflow_id``'s newest run, or of ``run_id`` (a unique prefix will do)."""
        run = self._run_of(workflow_id, run_id)
        return History(self.store.events(run.run_id), source=f"{workflow_id} in {self.path}")

    def runs(self, workflow_id: str) -> list[WorkflowInfo]:
        """Every run of ``workflow_id``, oldest first (ids are reused only as ``id_reuse_policy`` allows)."""
        runs = self.store.runs_of(workflow_id)
        if not runs:
            raise WorkflowNotFoundError(workflow_id, self.path)
        return [self._info(r) for r in runs]

    def list(self, status: str | None = None) -> list[WorkflowInfo]:
        if status not in (None, "running", "completed", "failed"):
            raise EngineError(f"status must be running, completed or failed, not {status!r}")
        if status == "failed":  # a running workflow whose task keeps failing ("poison") is failing too
            return [i for i in map(self._info, self.store.latest_runs()) if i.has_status("failed")]
        return [self._info(run) for run in self.store.latest_runs(status)]

    def describe(self, workflow_id: str, run_id: str | None = None) -> WorkflowInfo:
        return self._info(self._run_of(workflow_id, run_id))

    def _run_of(self, workflow_id: str, run_id: str | None) -> Run:
        if not run_id:
            return self._latest(workflow_id)
        runs = self.store.runs_of(workflow_id)
        if not runs:
            raise WorkflowNotFoundError(workflow_id, self.path)
        matches = [r for r in runs if r.run_id == run_id] or [r for r in runs if r.run_id.startswith(run_id)]
        if len(matches) != 1:
            known = ", ".join(r.run_id for r in runs)
            what = "several runs starting with" if matches else "no run"
            raise EngineError(f"workflow {workflow_id} has {what} {run_id!r}; its runs, oldest first: {known}")
        return matches[0]

    def _latest(self, workflow_id: str) -> Run:
        run = self.store.latest_run(_text(workflow_id, "workflow id"))
        if run is None:
            raise WorkflowNotFoundError(workflow_id, self.path)
        return run

    def _info(self, run: Run) -> WorkflowInfo:
        task = self.store.workflow_task_of(run.run_id) if run.status == "running" else None
        failure = task.last_failure if task else None
        return WorkflowInfo(
            run.workflow_id,
            run.run_id,
            run.workflow_type,
            run.status,
            run.started_at,
            run.closed_at,
            run.last_event_id,
            failure,
            task.attempt if failure and task else None,
        )

    def blocked_reason(self, workflow_id: str, run_id: str | None = None) -> str:
        """Why a running workflow is not making progress on this worker, in plain words."""
        run = self._run_of(workflow_id, run_id)
        tasks = self.store.tasks_of(run.run_id)
        for t in tasks:
            if t.kind == "workflow" and t.last_failure:
                return (
                    f"its workflow task keeps failing (attempt {t.attempt - 1}: {describe_failure(t.last_failure)}); "
                    "fix the code and run a worker with it"
                )
            if t.kind == "workflow" and t.name not in self.registry.workflows:
                return f"workflow type {t.name!r} is not registered on this worker; register its module"
            if t.kind == "activity" and t.name not in self.registry.activities:
                return f"activity {t.name!r} is not registered on this worker; register its module"
        cached = self.worker.workflows.cache.get(run.run_id)
        if cached is not None:
            signals = [n for n, q in cached.ex.signal_waiters.items() if any(not f.done() for f in q)]
            where = blocked_source(cached.ex.main)
            at = f" at {where}" if where else ""
            if signals:
                return (
                    f"it waits for signal {', '.join(map(repr, signals))}{at}; send it with engine.signal() "
                    f"or `{shlex.join(['replaytest', 'signal', workflow_id, signals[0]])} --payload JSON`"
                )
            return f"it is waiting{at} and nothing it waits for is scheduled"
        return "nothing it waits for is scheduled (a signal, perhaps)"

    # ------------------------------------------------------------------ worker side
    def work(self, until_idle: bool = True) -> WorkStats:
        """Run the worker here, for every workflow in the database; with ``until_idle``, return
        once nothing is runnable or due (skipping ahead on a virtual clock). Returns what was done."""
        return self.worker.run(until_idle=until_idle)

    def run_worker(self) -> WorkStats:
        """Run the worker until ``stop()`` is called (e.g. from a signal handler)."""
        return self.worker.run(until_idle=False)

    def stop(self) -> None:
        self.worker.stop()

    def run_until_complete(self, workflow_id: str) -> Any:
        """Work until ``workflow_id`` closes; return its result (see WorkflowHandle.result)."""
        return self.get_handle(workflow_id).result()

    def sleep(self, duration: timedelta | float) -> WorkStats:
        """Virtual clock: let ``duration`` pass, running everything that becomes due, and stop
        there (like Temporal's time-skipping ``env.sleep``)."""
        if not self.clock.virtual:
            raise EngineError("engine.sleep() needs a virtual clock: Engine(..., clock='virtual')")
        until = self.clock.now_ms() + round((seconds(duration, "engine.sleep duration") or 0.0) * 1000)
        if until > LAST_DUE_MS:
            raise EngineError(f"engine.sleep({duration!r}) from {self.clock.describe()} would pass the year 9999")
        return self.worker.run(until_idle=True, skip_until_ms=until)

    def now(self) -> datetime:
        return self.clock.now()
