"""Fault plans: run a workflow on a fresh engine while activities fail, time out or are
delayed, signals arrive at chosen times and the worker crashes after a chosen event.

A ``FaultPlan`` is plain data (JSON in and out), so a failing hypothesis example prints as
something you can read and paste back::

    plan = FaultPlan(activity_faults=(ActivityFault("charge_card", 1, "transient"),),
                     crash=Crash(after_event=7))
    run = run_under_plan(orders.process_order, ORDER, plan=plan, modules=[orders])
    run.status, run.result, run.history

The engine sees the plan through one small object, a ``FaultInjector`` (``Engine(faults=)``):
the activity runner asks it before each attempt runs (fail it, pretend it timed out, or let
virtual time pass), and the store tells it about every append and commit so it can kill the
worker — by raising ``WorkerCrash``, a ``BaseException`` nothing in the engine catches — right
after the commit that makes event *k* durable, or inside the transaction that records an
activity's completion (the activity ran; its result is lost). Recovery is what production
does: the crashed worker's leases expire and a *new* Engine on the same database file (fresh
caches) takes over.

Every history produced under a plan is replayed with ``replaytest.replay`` before
``run_under_plan`` returns; one that does not replay raises ``PlanReplayError`` naming the
plan. The last run is remembered (``last_run()``) so that ``pytest
--replay-save-failures DIR`` can write the history of a failing example as a regression test.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..activity import ActivityInfo
from ..definitions import ApplicationError, ReplaytestError, workflow_definition
from ..history import History, file_name_for

#: every engine run under a plan starts at this virtual time (stable histories)
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
FAULT_KINDS = ("transient", "non_retryable", "timeout", "delay")
COMPLETION_EVENTS = ("ActivityTaskCompleted", "ActivityTaskFailed", "ActivityTaskTimedOut")


# ---------------------------------------------------------------------------- the plan (plain data)
@dataclass(frozen=True)
class ActivityFault:
    """What happens to attempt ``attempt`` of every activity of type ``activity``.

    transient: raises ``ApplicationError(type=error_type)`` (retried per the RetryPolicy);
    non_retryable: the same with ``non_retryable=True`` (the activity fails at once);
    timeout: counts as a ``StartToCloseTimeout`` without waiting for it;
    delay: ``seconds`` of virtual time pass before the attempt runs (then it runs normally).
    """

    activity: str
    attempt: int
    kind: str = "transient"
    error_type: str = "InjectedFailure"
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ReplaytestError(f"fault kind must be one of {', '.join(FAULT_KINDS)}, not {self.kind!r}")


@dataclass(frozen=True)
class SignalAt:
    """Signal ``name`` with ``payload``, ``at_seconds`` of engine time after the start."""

    name: str
    payload: Any = None
    at_seconds: float = 0.0


@dataclass(frozen=True)
class Crash:
    """The worker dies right after the commit that makes event ``after_event`` durable; with
    ``in_activity_completion``, instead *inside* the transaction recording the first
    activity outcome whose event id is ``>= after_event`` (the activity ran, its result is
    lost and it will run again)."""

    after_event: int
    in_activity_completion: bool = False


@dataclass(frozen=True)
class FaultPlan:
    activity_faults: tuple[ActivityFault, ...] = ()
    signals: tuple[SignalAt, ...] = ()
    crash: Crash | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FaultPlan:
        crash = d.get("crash")
        return cls(
            tuple(ActivityFault(**f) for f in d.get("activity_faults", ())),
            tuple(SignalAt(**s) for s in d.get("signals", ())),
            Crash(**crash) if crash else None,
        )

    @classmethod
    def from_json(cls, text: str) -> FaultPlan:
        return cls.from_dict(json.loads(text))

    def __repr__(self) -> str:  # what hypothesis prints for a falsifying example
        return f"FaultPlan.from_json({self.to_json()!r})"

    @property
    def short_hash(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:8]

    def fault_for(self, activity_type: str, attempt: int) -> ActivityFault | None:
        return next(
            (f for f in self.activity_faults if f.activity in (activity_type, "*") and f.attempt == attempt), None
        )


# ---------------------------------------------------------------------------- injection
class WorkerCrash(BaseException):
    """The simulated death of a worker. A BaseException so that no ``except Exception`` in
    the engine or in workflow code can swallow it; nothing after it is committed."""

    def __init__(self, event_id: int, inside: bool) -> None:
        where = "inside the transaction recording" if inside else "right after committing"
        super().__init__(f"simulated worker crash {where} event {event_id}")
        self.event_id, self.inside = event_id, inside


class InjectedTimeout(ApplicationError):
    """A fault plan's pretend StartToCloseTimeout (the activity runner records it as one)."""

    injected_timeout = True


@dataclass(frozen=True)
class ActivityExecution:
    """One attempt that reached user code (or an injected fault), as an activity sees it."""

    workflow_id: str
    activity_id: str
    activity_type: str
    attempt: int
    idempotency_key: str
    before_crash: bool
    fault: str | None = None


class FaultInjector:
    """The engine-side half of a plan (``Engine(faults=...)``): injects activity faults,
    counts activity executions, and crashes the worker at the planned event."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self.plan = plan or FaultPlan()
        self.executions: list[ActivityExecution] = []
        self.commit_points: list[int] = []  # the run's last event id after each worker commit
        self.crashed: WorkerCrash | None = None
        self._run_id: str | None = None
        self._thread: int | None = None
        self._engine: Any = None
        self._lock = threading.Lock()

    def attach(self, engine: Any) -> None:
        self._engine = engine

    def arm(self, run_id: str) -> None:
        """Watch ``run_id`` from now on (the client's start is not the worker's work)."""
        self._run_id, self._thread = run_id, threading.get_ident()

    # called by the store ------------------------------------------------
    def appended(self, run_id: str, events: Sequence[Any]) -> None:
        crash = self.plan.crash
        if crash is None or not crash.in_activity_completion or self.crashed or run_id != self._run_id:
            return
        for e in events:
            if e.type in COMPLETION_EVENTS and e.id >= crash.after_event:
                self._crash(e.id, inside=True)

    def committed(self) -> None:
        if self._run_id is None or threading.get_ident() != self._thread or self._engine is None:
            return
        run = self._engine.store.run(self._run_id)
        last = run.last_event_id if run else 0
        if not self.commit_points or self.commit_points[-1] != last:
            self.commit_points.append(last)
        crash = self.plan.crash
        if crash is not None and not crash.in_activity_completion and not self.crashed and last >= crash.after_event:
            self._crash(last, inside=False)

    def _crash(self, event_id: int, inside: bool) -> None:
        self.crashed = WorkerCrash(event_id, inside)
        raise self.crashed

    # called by the activity runner, in the attempt's thread --------------
    def before_activity(self, info: ActivityInfo) -> None:
        fault = self.plan.fault_for(info.activity_type, info.attempt)
        with self._lock:
            self.executions.append(
                ActivityExecution(
                    info.workflow_id,
                    info.activity_id,
                    info.activity_type,
                    info.attempt,
                    info.idempotency_key,
                    self.crashed is None,
                    fault.kind if fault else None,
                )
            )
        if fault is None:
            return
        what = f"injected by the fault plan: {info.activity_type} attempt {info.attempt}"
        if fault.kind == "transient":
            raise ApplicationError(f"{fault.error_type} ({what})", type=fault.error_type)
        if fault.kind == "non_retryable":
            raise ApplicationError(f"{fault.error_type} ({what})", type=fault.error_type, non_retryable=True)
        if fault.kind == "timeout":
            raise InjectedTimeout(
                f"attempt did not finish within its start_to_close_timeout ({what})", type="StartToCloseTimeout"
            )
        clock = self._engine.clock if self._engine is not None else None
        if clock is not None and clock.virtual and fault.seconds > 0:
            clock.advance_to(clock.now_ms() + round(fault.seconds * 1000))


def expire_leases(engine: Any, owner: str) -> int:
    """What time does to a dead worker's claims: its leases expire. Returns how many."""
    expired: int = engine.store.expire_leases(owner)
    return expired


# ---------------------------------------------------------------------------- running under a plan
class PlanReplayError(ReplaytestError, AssertionError):
    """A history produced under a fault plan does not replay against the same code."""


@dataclass
class PlanRun:
    """What happened under ``plan``: the history and its outcome, the crash, the executions."""

    plan: FaultPlan
    workflow_id: str
    history: History
    status: str  # completed | failed | running
    result: Any = None
    failure: dict[str, Any] | None = None
    crashed_at: int | None = None  # the event id the worker died at (None: no crash happened)
    crashed_inside: bool = False  # died inside the transaction recording an activity outcome
    worker_identities: list[str] = field(default_factory=list)
    executions: list[ActivityExecution] = field(default_factory=list)
    undelivered_signals: list[SignalAt] = field(default_factory=list)
    blocked: str | None = None  # why a still-running workflow is not progressing
    commit_points: list[int] = field(default_factory=list)  # last event id after each worker commit

    @property
    def outcome(self) -> Any:
        return self.result if self.status == "completed" else self.failure

    def save(self, directory: str | Path) -> Path:
        """Write the history as DIR/<workflow-id>-<short hash>.json (a ``--replay`` test as is)."""
        digest = hashlib.sha256((self.plan.to_json() + self.history.to_json()).encode()).hexdigest()[:8]
        return self.history.save(Path(directory) / file_name_for(self.workflow_id, f"-{digest}.json"))


_last: PlanRun | None = None


def last_run() -> PlanRun | None:
    """The most recent run_under_plan in this process (what --replay-save-failures writes)."""
    return _last


def clear_last_run() -> None:
    global _last
    _last = None


def with_own_module(workflow: Callable[..., Any], modules: Iterable[Any]) -> list[Any]:
    """``modules`` plus the workflow's own module: its activities, as a worker started with
    that module would have them."""
    modules = list(modules)
    own = sys.modules.get(workflow.__module__)
    if own is not None and own not in modules:
        modules.append(own)
    return modules


def run_under_plan(
    workflow: Callable[..., Any],
    *args: Any,
    plan: FaultPlan | None = None,
    modules: Iterable[Any] = (),
    signals: Iterable[SignalAt] = (),
    db_path: str | Path | None = None,
    workflow_id: str | None = None,
    seed: int = 0,
    check_replay: bool = True,
    sandbox: str | None = "strict",
    recover: Callable[[str, PlanRun], None] | None = None,
) -> PlanRun:
    """Run ``workflow(*args)`` on a fresh engine (temporary SQLite file unless ``db_path``,
    virtual clock starting at ``T0``) under ``plan``; recover on a new Engine if the plan
    crashes the worker; replay the history; return a ``PlanRun``.

    ``recover(db_path, partial_run)``, if given, replaces the in-process recovery (e.g. a
    worker process); it is called with the database after the crashed worker's leases expired.
    """
    plan = plan or FaultPlan()
    modules = with_own_module(workflow, modules)
    defn = workflow_definition(workflow)
    if defn is None:
        raise ReplaytestError(f"{workflow!r} is not a workflow (@workflow.defn)")
    wid = workflow_id or f"{defn.name}-plan-{plan.short_hash}"
    tmp = tempfile.TemporaryDirectory(prefix="replaytest-plan-") if db_path is None else None
    path = Path(tmp.name) / "engine.db" if tmp else Path(db_path)  # type: ignore[arg-type]
    pending = sorted([*plan.signals, *signals], key=lambda s: s.at_seconds)
    try:
        return _run(workflow, defn.name, args, plan, modules, pending, path, wid, seed, check_replay, sandbox, recover)
    finally:
        if tmp is not None:
            tmp.cleanup()


def _run(
    workflow: Any,
    name: str,
    args: Sequence[Any],
    plan: FaultPlan,
    modules: list[Any],
    pending: list[SignalAt],
    path: Path,
    wid: str,
    seed: int,
    check_replay: bool,
    sandbox: str | None,
    recover: Callable[[str, PlanRun], None] | None,
) -> PlanRun:
    global _last
    from ..backends.native import replay
    from ..engine import Engine, VirtualClock

    injector = FaultInjector(plan)
    engine = Engine(path, clock=VirtualClock(start=T0), sandbox=sandbox, faults=injector).register(*modules, workflow)
    handle = engine.start(workflow, *args, id=wid, seed=seed, run_id=hashlib.sha256(wid.encode()).hexdigest()[:32])
    start_ms = engine.clock.now_ms()
    injector.arm(handle.run_id)
    identities = [engine.worker.identity]
    try:
        _drive(engine, wid, pending, start_ms)
    except WorkerCrash:
        crashed = engine
        crashed.close()
        engine = Engine(path, clock="virtual", sandbox=sandbox).register(*modules, workflow)
        expire_leases(engine, crashed.worker.identity)
        if recover is not None:
            partial = PlanRun(plan, wid, engine.history(wid), "running", crashed_at=injector.crashed.event_id)  # type: ignore[union-attr]
            engine.close()
            recover(str(path), partial)
            engine = Engine(path, clock="virtual", sandbox=sandbox).register(*modules, workflow)
        else:
            engine.set_faults(injector)  # activity faults still apply; the crash has happened
            injector.arm(handle.run_id)
            identities.append(engine.worker.identity)
            _drive(engine, wid, pending, start_ms)
    try:
        history = engine.history(wid)
        info = engine.describe(wid)
        last = history.events[-1]
        run = PlanRun(
            plan,
            wid,
            history,
            info.status,
            result=last.attrs.get("result") if info.status == "completed" else None,
            failure=last.attrs.get("failure") if info.status == "failed" else None,
            crashed_at=injector.crashed.event_id if injector.crashed else None,
            crashed_inside=bool(injector.crashed and injector.crashed.inside),
            worker_identities=identities,
            executions=list(injector.executions),
            undelivered_signals=pending,
            blocked=engine.blocked_reason(wid) if info.status == "running" else None,
            commit_points=list(injector.commit_points),
        )
    finally:
        engine.close()
    _last = run
    if check_replay:
        try:
            replay(history, [*modules, workflow])
        except Exception as e:
            raise PlanReplayError(
                f"the history of {wid} produced under the fault plan\n  {plan.to_json()}\n"
                f"does not replay cleanly against the same code: {type(e).__name__}: {e}"
            ) from e
    return run


def _drive(engine: Any, wid: str, pending: list[SignalAt], start_ms: int) -> None:
    """Work, delivering each signal at its time; then work until nothing is runnable."""
    while pending:
        due = start_ms + round(pending[0].at_seconds * 1000)
        if engine.clock.now_ms() < due:
            engine.sleep((due - engine.clock.now_ms()) / 1000)
        if engine.describe(wid).status != "running":
            return  # closed before the signal: it stays in `undelivered_signals`
        s = pending.pop(0)
        engine.signal(wid, s.name, s.payload)
    engine.work()


__all__ = [
    "T0",
    "ActivityExecution",
    "ActivityFault",
    "Crash",
    "FaultInjector",
    "FaultPlan",
    "InjectedTimeout",
    "PlanReplayError",
    "PlanRun",
    "SignalAt",
    "WorkerCrash",
    "clear_last_run",
    "expire_leases",
    "last_run",
    "run_under_plan",
]
