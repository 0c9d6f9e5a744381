"""Hypothesis strategies for fault plans (``replaytest.testing.faults.FaultPlan``).

    from hypothesis import given, settings
    from replaytest.testing import strategies as rs
    from replaytest.testing.faults import run_under_plan

    @settings(max_examples=30, deadline=None)
    @given(rs.fault_plans(["calculate_total", "charge_card"], max_event=25))
    def test_orders_survive(plan):
        run = run_under_plan(orders.process_order, ORDER, plan=plan, modules=[orders])
        ...

Plans shrink toward "no faults": fewer faults, earlier attempts, transient rather than
non-retryable, no crash — so a falsifying example is the smallest plan that still breaks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from hypothesis import strategies as st

from .faults import FAULT_KINDS, ActivityFault, Crash, FaultPlan, SignalAt


def activity_faults(
    activities: Sequence[str],
    *,
    max_attempt: int = 4,
    kinds: Sequence[str] = FAULT_KINDS,
    error_types: Sequence[str] = ("InjectedFailure",),
    max_delay: float = 600.0,
) -> st.SearchStrategy[tuple[ActivityFault, ...]]:
    """For each activity type, what happens to its first attempts: a run of 0..max_attempt
    consecutive attempts 1, 2, … with a fault each (a fault on attempt 3 matters only if
    attempts 1 and 2 failed, so none is wasted on an attempt that never happens)."""
    if not activities:
        raise ValueError("activity_faults needs at least one activity type name")
    unknown = set(kinds) - set(FAULT_KINDS)
    if unknown:
        raise ValueError(f"unknown fault kinds {sorted(unknown)}; choose from {', '.join(FAULT_KINDS)}")
    one = st.tuples(
        st.sampled_from(list(kinds)), st.sampled_from(list(error_types)), st.integers(0, int(max_delay)).map(float)
    )

    def attempts(name: str) -> st.SearchStrategy[list[ActivityFault]]:
        return st.lists(one, max_size=max_attempt).map(
            lambda xs: [
                ActivityFault(name, i + 1, kind, error, secs if kind == "delay" else 0.0)
                for i, (kind, error, secs) in enumerate(xs)
            ]
        )

    return st.tuples(*(attempts(a) for a in activities)).map(lambda per: tuple(f for fs in per for f in fs))


def signal_arrivals(
    signals: Iterable[tuple[str, Any]], *, max_seconds: float = 30 * 86400.0, optional: bool = True
) -> st.SearchStrategy[tuple[SignalAt, ...]]:
    """When each (name, payload) signal arrives, in whole seconds after the start; with
    ``optional``, some may never be sent."""

    def arrival(name: str, payload: Any) -> st.SearchStrategy[SignalAt | None]:
        at = st.builds(
            SignalAt,
            name=st.just(name),
            payload=st.just(payload),
            at_seconds=st.integers(0, int(max_seconds)).map(float),
        )
        return st.one_of(st.none(), at) if optional else at

    parts = [arrival(n, p) for n, p in signals]
    return st.tuples(*parts).map(lambda xs: tuple(sorted((x for x in xs if x is not None), key=lambda s: s.at_seconds)))


def crashes(max_event: int, *, in_activity_completion: bool = True) -> st.SearchStrategy[Crash | None]:
    """No crash, or a worker crash after event 3..max_event (events 1-2 are the client's start)."""
    inside = st.booleans() if in_activity_completion else st.just(False)
    return st.one_of(
        st.none(), st.builds(Crash, after_event=st.integers(3, max(3, max_event)), in_activity_completion=inside)
    )


def fault_plans(
    activities: Sequence[str],
    *,
    signals: Iterable[tuple[str, Any]] = (),
    max_event: int = 30,
    crash: bool = True,
    **fault_options: Any,
) -> st.SearchStrategy[FaultPlan]:
    """Whole plans: activity faults, signal arrivals, at most one worker crash."""
    return st.builds(
        FaultPlan,
        activity_faults=activity_faults(activities, **fault_options),
        signals=signal_arrivals(list(signals)) if signals else st.just(()),
        crash=crashes(max_event) if crash else st.none(),
    )


__all__ = ["activity_faults", "crashes", "fault_plans", "signal_arrivals"]
