"""Crash at every step: ``check_recovery`` kills the worker after each durable step of a
workflow, recovers it on a new worker, and checks that nobody could tell.

    from replaytest import check_recovery
    check_recovery(orders.process_order, ORDER, modules=[orders])

It runs the workflow once to learn its history (N events) and the points where the worker
commits (crashing between two events written by one transaction is the same crash: the
transaction is the unit of durability). Then, for every commit point k < N, it runs the
workflow again on a fresh database, crashes the worker right after event k is committed, and
recovers on a new Engine (same process, same imported modules — a long-lived worker whose
module-level state has moved on). For every activity outcome it also crashes *inside* the
transaction that records it: the activity ran, its result is lost, it must run again. Each
recovered run must have

* the same final result (side-effect values, which legitimately differ per run, masked),
* every activity outcome recorded exactly once,
* every activity executed at least once, and more often than without a crash only when its
  outcome was not yet recorded at the crash (and then once more at most),
* the same idempotency key on every execution of an activity,
* a history that replays cleanly.

``fresh_process`` recovers in a new ``python -m replaytest worker --until-idle
--virtual-clock`` process with another ``PYTHONHASHSEED`` — a restarted worker — which catches
code depending on process-global state or on the iteration order of a set of strings.
``"sample"`` (default) does it for a few crash points, ``"all"`` for all, ``False`` never.
Activity executions in that process are not observed: there only result, outcomes-once and
replay are checked.

A broken crash point raises ``RecoveryError`` naming k, what broke and the saved history.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..definitions import ReplaytestError, workflow_definition
from ..history import file_name_for
from .faults import COMPLETION_EVENTS, Crash, FaultPlan, PlanRun, SignalAt, run_under_plan, with_own_module

DEFAULT_SAVE_DIR = ".replaytest/recovery-failures"


class RecoveryError(AssertionError):
    """A crash point after which recovery did not behave like an uninterrupted run."""

    def __init__(self, message: str, failures: list[CrashFailure]) -> None:
        super().__init__(message)
        self.failures = failures


@dataclass
class CrashFailure:
    k: int
    inside_activity_completion: bool
    mode: str  # in-process | fresh process (PYTHONHASHSEED=N)
    problems: list[str]
    saved: Path | None

    def describe(self) -> str:
        where = (
            f"crash inside the transaction recording event {self.k} (the activity ran, its outcome was lost)"
            if self.inside_activity_completion
            else f"crash right after event {self.k} was committed"
        )
        saved = f"; history saved to {self.saved}" if self.saved else ""
        return f"k={self.k}: {where}, recovered {self.mode}: " + "; ".join(self.problems) + saved


@dataclass
class RecoveryReport:
    workflow: str
    events: int  # N, in the uninterrupted run
    crash_points: list[int]  # the k checked after a commit
    activity_windows: list[int]  # the activity outcome events crashed inside
    fresh_process_points: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def __str__(self) -> str:
        return (
            f"check_recovery({self.workflow}): {len(self.crash_points)} crash points and "
            f"{len(self.activity_windows)} activity-completion windows of {self.events} events recovered in "
            f"process, {len(self.fresh_process_points)} in a fresh process, in {self.seconds:.2f}s"
        )


def check_recovery(
    workflow: Callable[..., Any],
    *args: Any,
    modules: Iterable[Any] = (),
    signals: Iterable[SignalAt] = (),
    fresh_process: str | bool = "sample",
    samples: int = 3,
    save_dir: str | Path | None = DEFAULT_SAVE_DIR,
    workflow_id: str | None = None,
    sandbox: str | None = "strict",
    timeout: float = 60.0,
    compare: Callable[[Any], Any] | None = None,
) -> RecoveryReport:
    """Crash the worker after every durable step of ``workflow(*args)`` and check recovery.

    ``compare`` maps a result to the part that must not change (default: all of it, with
    side-effect values masked) — e.g. drop a field that reports ``activity.info().attempt``,
    which legitimately grows when a crash loses an attempt.

    Raises RecoveryError (an AssertionError) listing each crash point k that broke an
    assertion; returns a RecoveryReport when all held.
    """
    if fresh_process not in ("sample", "all", False):
        raise ReplaytestError(f"fresh_process must be 'sample', 'all' or False, not {fresh_process!r}")
    defn = workflow_definition(workflow)
    if defn is None:
        raise ReplaytestError(f"{workflow!r} is not a workflow (@workflow.defn)")
    began = time.perf_counter()
    modules, signals = with_own_module(workflow, modules), list(signals)
    wid = workflow_id or f"{defn.name}-recovery"
    common = dict(modules=modules, signals=signals, workflow_id=wid, sandbox=sandbox, check_replay=False)
    baseline = run_under_plan(workflow, *args, **common)  # type: ignore[arg-type]
    if baseline.status == "running":  # every crash point would "recover" to the same stall: say why instead
        raise ReplaytestError(
            f"check_recovery({defn.name}): {defn.name} did not finish without a crash: "
            f"{baseline.blocked} (check_recovery registers the workflow's own module; pass others as modules=[...])"
        )
    n = len(baseline.history)
    points = [k for k in dict.fromkeys(baseline.commit_points) if 2 < k < n]
    windows = [e.id for e in baseline.history.events if e.type in COMPLETION_EVENTS]
    failures: list[CrashFailure] = []

    def check(crash: Crash, mode: str, recover: Any = None) -> None:
        run = run_under_plan(workflow, *args, plan=FaultPlan(crash=crash), recover=recover, **common)  # type: ignore[arg-type]
        problems = _compare(baseline, run, modules, workflow, observed=recover is None, key=compare)
        if problems:
            saved = None
            if save_dir is not None:
                suffix = "-inside" if crash.in_activity_completion else ""
                tag = "" if recover is None else "-fresh"
                saved = run.history.save(
                    Path(save_dir) / file_name_for(wid, f"-crash-{crash.after_event}{suffix}{tag}.json")
                )
            failures.append(CrashFailure(crash.after_event, crash.in_activity_completion, mode, problems, saved))

    fresh: list[int] = []
    with _quiet_engine():  # dozens of recoveries: their retries and warnings are the findings below
        for k in points:
            check(Crash(k), "in-process (same modules)")
        for k in windows:
            check(Crash(k, in_activity_completion=True), "in-process (same modules)")
        if fresh_process:
            fresh = points if fresh_process == "all" else _sample(points, samples)
            seeds = _other_hash_seeds(len(fresh))
            names = list(
                dict.fromkeys([*(m.__name__ for m in modules if isinstance(m, type(os))), workflow.__module__])
            )
            for k, seed in zip(fresh, seeds):
                check(
                    Crash(k),
                    f"in a fresh worker process (PYTHONHASHSEED={seed})",
                    _process_recovery(names, seed, timeout),
                )
    report = RecoveryReport(defn.name, n, points, windows, fresh, time.perf_counter() - began)
    if failures:
        lines = [
            f"check_recovery({defn.name}): {len(failures)} crash point(s) broke recovery "
            f"(of {len(points)} + {len(windows)} in process, {len(fresh)} in a fresh process; N={n} events):"
        ]
        lines += [f"  {f.describe()}" for f in failures[:8]]
        if len(failures) > 8:
            lines.append(f"  … and {len(failures) - 8} more")
        raise RecoveryError("\n".join(lines), failures)
    return report


# ---------------------------------------------------------------------------- the assertions
def _compare(
    baseline: PlanRun,
    run: PlanRun,
    modules: list[Any],
    workflow: Any,
    observed: bool,
    key: Callable[[Any], Any] | None = None,
) -> list[str]:
    key = key or (lambda result: result)
    problems: list[str] = []
    if run.crashed_at is None:
        problems.append("the planned crash never happened (the run differed from the uninterrupted one before it)")
    if run.status != baseline.status:
        why = f" ({run.blocked})" if run.blocked else ""
        problems.append(f"the workflow ended {run.status}{why}, without a crash it {baseline.status}")
    elif run.status == "completed" and key(_masked(run)) != key(_masked(baseline)):
        problems.append(f"result {run.result!r} differs from the uninterrupted run's {baseline.result!r}")
    elif run.status == "failed" and (run.failure or {}).get("type") != (baseline.failure or {}).get("type"):
        problems.append(f"failure {run.failure!r} differs from the uninterrupted run's {baseline.failure!r}")
    outcomes: dict[str, list[int]] = {}
    for e in run.history.events:
        if e.type in COMPLETION_EVENTS:
            outcomes.setdefault(e.attrs["activity_id"], []).append(e.id)
    twice = {a: ids for a, ids in outcomes.items() if len(ids) > 1}
    if twice:
        problems.append(f"activity outcomes recorded more than once: {twice}")
    expected = {e.attrs["activity_id"] for e in baseline.history.events if e.type in COMPLETION_EVENTS}
    if run.status == baseline.status and set(outcomes) != expected:
        problems.append(f"activities with a recorded outcome {sorted(outcomes)} differ from {sorted(expected)}")
    problems += _executions(baseline, run, outcomes, observed)
    if not problems:
        from ..backends.native import replay

        try:
            replay(run.history, [*modules, workflow])
        except Exception as e:
            problems.append(f"the recovered history does not replay: {type(e).__name__}: {e}")
    return problems


def _executions(baseline: PlanRun, run: PlanRun, outcomes: dict[str, list[int]], observed: bool) -> list[str]:
    problems: list[str] = []
    base: dict[str, int] = {}
    for x in baseline.executions:
        base[x.activity_id] = base.get(x.activity_id, 0) + 1
    mine = [x for x in run.executions if x.workflow_id == run.workflow_id]
    crashed_at = run.crashed_at or 0
    for activity_id, ids in outcomes.items():
        runs = [x for x in mine if x.activity_id == activity_id]
        keys = {x.idempotency_key for x in runs}
        if len(keys) > 1:
            problems.append(f"activity {activity_id} ran with different idempotency keys {sorted(keys)}")
        if not observed:
            continue  # recovered in another process: its executions are not seen here
        if not runs:
            problems.append(f"activity {activity_id} has a recorded outcome but never ran")
            continue
        recorded_before_crash = ids[0] <= crashed_at and not (run.crashed_inside and ids[0] == crashed_at)
        after = [x for x in runs if not x.before_crash]
        if recorded_before_crash and after:
            problems.append(
                f"activity {activity_id} ran again after the crash although its outcome (event {ids[0]}) "
                f"was already recorded (attempts {[x.attempt for x in after]})"
            )
        extra = len(runs) - base.get(activity_id, 0)
        if extra > 1 or (extra == 1 and recorded_before_crash):
            problems.append(f"activity {activity_id} ran {len(runs)} times, {base.get(activity_id, 0)} without a crash")
    return problems


def _masked(run: PlanRun) -> Any:
    """The result with side-effect values replaced by their marker ids (they differ per run)."""
    values = {
        repr(e.attrs.get("value")): f"<side effect {e.attrs.get('marker_id')}>"
        for e in run.history.events
        if e.type == "MarkerRecorded" and e.attrs.get("marker_name") == "side_effect"
    }

    def mask(v: Any) -> Any:
        if repr(v) in values:
            return values[repr(v)]
        if isinstance(v, dict):
            return {k: mask(x) for k, x in v.items()}
        if isinstance(v, list):
            return [mask(x) for x in v]
        return v

    return mask(run.result)


# ---------------------------------------------------------------------------- fresh processes
def _process_recovery(modules: list[str], hash_seed: int, timeout: float) -> Callable[[str, PlanRun], None]:
    def recover(db: str, partial: PlanRun) -> None:
        # the import path of this process (pytest's rootdir insertion included), so the worker
        # imports the very modules this process did
        path = [os.getcwd(), *(p for p in sys.path if p and os.path.isdir(p))]
        env = {**os.environ, "PYTHONHASHSEED": str(hash_seed), "PYTHONPATH": os.pathsep.join(dict.fromkeys(path))}
        argv = [sys.executable, "-m", "replaytest", "worker", "--db", db, "--until-idle", "--virtual-clock", "-q"]
        for m in modules:
            argv += ["--module", m]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise ReplaytestError(f"the recovery worker process failed (exit {done.returncode}): {done.stderr.strip()}")

    return recover


def _other_hash_seeds(count: int) -> list[int]:
    mine = os.environ.get("PYTHONHASHSEED")
    return [s for s in range(1, count + 2) if str(s) != mine][:count]


def _sample(points: list[int], count: int) -> list[int]:
    if len(points) <= count:
        return list(points)
    picks = {points[round(i * (len(points) - 1) / (count - 1))] for i in range(count)} if count > 1 else {points[0]}
    return sorted(picks)


@contextlib.contextmanager
def _quiet_engine() -> Iterator[None]:
    log = logging.getLogger("replaytest.engine")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


__all__ = ["CrashFailure", "RecoveryError", "RecoveryReport", "check_recovery"]
