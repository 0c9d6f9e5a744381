"""Generated workflow programs for property tests of replay.

A *program* is a list of steps; ``interpret`` is a workflow that runs one. Running a program
live and replaying its history against a *mutated* program (registered under the same
workflow type) tells whether replay reports the first difference, and where.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import strategies as st

from replaytest import activity, workflow


@activity.defn
async def step(name: str, arg: int) -> str:
    return f"{name}:{arg}"


activity_step = st.fixed_dictionaries(
    {"op": st.just("activity"), "name": st.sampled_from(["a", "b", "c"]), "arg": st.integers(0, 3)}
)
timer_step = st.fixed_dictionaries({"op": st.just("timer"), "seconds": st.sampled_from([1, 60, 3600, 86400 * 30])})
signal_step = st.fixed_dictionaries({"op": st.just("signal"), "name": st.sampled_from(["go", "stop"])})
gather_step = st.fixed_dictionaries({"op": st.just("gather"), "items": st.lists(activity_step, min_size=2, max_size=3)})
programs = st.lists(st.one_of(activity_step, timer_step, signal_step, gather_step), min_size=1, max_size=7)


async def run_program(program: list[dict[str, Any]]) -> list[Any]:
    out: list[Any] = []
    for s in program:
        if s["op"] == "activity":
            out.append(await workflow.execute_activity(step, s["name"], s["arg"]))
        elif s["op"] == "timer":
            await workflow.sleep(s["seconds"])
            out.append(s["seconds"])
        elif s["op"] == "signal":
            out.append(await workflow.wait_for_signal(s["name"]))
        else:
            out.append(
                list(await asyncio.gather(*(workflow.execute_activity(step, i["name"], i["arg"]) for i in s["items"])))
            )
    return out


@workflow.defn(name="interpret")
async def interpret(program: list[dict[str, Any]]) -> list[Any]:
    return await run_program(program)


def signals_for(program: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """The signals a program waits for, in order, with a payload each."""
    return [(s["name"], i) for i, s in enumerate(program) if s["op"] == "signal"]


def tasks_of(program: list[dict[str, Any]]) -> list[list[tuple[str, Any]]]:
    """The commands a program issues, one list per workflow task (completion excluded).
    Every step that issues commands then waits, so it ends its task; a signal that is
    already buffered issues nothing and does not wait."""
    out: list[list[tuple[str, Any]]] = []
    for s in program:
        if s["op"] == "activity":
            out.append([("activity", (s["name"], s["arg"]))])
        elif s["op"] == "timer":
            out.append([("timer", s["seconds"])])
        elif s["op"] == "gather":
            out.append([("activity", (i["name"], i["arg"])) for i in s["items"]])
    return out


def commands_of(program: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [c for task in tasks_of(program) for c in task]


def first_difference(original: list[dict[str, Any]], mutant: list[dict[str, Any]]) -> int:
    """Index (in the original's flattened commands) of the first command the mutant does
    not issue the same way at the same point of the same task."""
    k = 0
    for a, b in zip(tasks_of(original), tasks_of(mutant)):
        for x, y in zip(a, b):
            if x != y:
                return k
            k += 1
        if len(a) != len(b):
            return k
    return k


def mutations(program: list[dict[str, Any]]) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Programs that differ from ``program`` by one edit that changes a command."""
    n = len(program)

    def change(i: int, s: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
        if s["op"] == "activity":
            return st.one_of(
                st.sampled_from([x for x in "abc" if x != s["name"]]).map(lambda x: {**s, "name": x}),
                st.integers(4, 9).map(lambda a: {**s, "arg": a}),
            )
        if s["op"] == "timer":
            return st.sampled_from([7, 120]).map(lambda t: {**s, "seconds": t})
        if s["op"] == "gather":
            return (
                st.just({**s, "items": s["items"][::-1]})
                if s["items"][0] != s["items"][-1]
                else st.just({**s, "items": s["items"][:-1]})
            )
        return st.just({"op": "timer", "seconds": 5})  # a signal wait replaced by a timer

    edits = [st.tuples(st.just("change"), st.integers(0, n - 1))]
    edits.append(st.tuples(st.just("delete"), st.integers(0, n - 1)))
    edits.append(st.tuples(st.just("insert"), st.integers(0, n)))

    @st.composite
    def mutate(draw: Any) -> list[dict[str, Any]]:
        kind, i = draw(st.one_of(edits))
        p = list(program)
        if kind == "change":
            p[i] = draw(change(i, p[i]))
        elif kind == "delete":
            del p[i]
        else:
            p.insert(i, draw(activity_step.map(lambda s: {**s, "arg": 7})))
        return p

    return mutate().filter(lambda p: commands_of(p) != commands_of(program))


def make_mutant(program: list[dict[str, Any]]) -> Any:
    """A workflow registered as ``interpret`` that runs ``program`` whatever its input says."""

    async def mutant(_ignored: list[dict[str, Any]]) -> list[Any]:
        return await run_program(program)

    return workflow.defn(name="interpret")(mutant)
