"""Properties over generated handlers: whatever shape a handler has (steps, waits, child
contexts, maps, parallel branches, nested in any order), the history the testing SDK records
for it replays against the same code, and renaming any one of its steps is reported at the
line that names it."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

import aws_durable_execution_sdk_python_testing  # noqa: F401  (a dev dependency: without it this module errors, never skips)
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replaytest import NondeterminismError
from replaytest.backends.aws import history as aws_history
from replaytest.backends.aws.replay import replay_history
from tests.aws_record import record
from tests.test_aws_replay import import_file

_modules = itertools.count()

OPS = st.lists(
    st.one_of(
        st.just(("step",)),
        st.just(("wait",)),
        st.tuples(st.just("child"), st.integers(1, 3)),
        st.tuples(st.just("map"), st.integers(1, 3)),
        st.tuples(st.just("parallel"), st.integers(1, 3)),
    ),
    min_size=1,
    max_size=6,
)


def source(ops: list[tuple[Any, ...]]) -> tuple[str, list[str]]:
    """Handler source for ``ops`` and the step names in it (each on a line of its own)."""
    lines = [
        "from aws_durable_execution_sdk_python import DurableContext, durable_execution",
        "from aws_durable_execution_sdk_python.config import Duration",
        "",
        "",
        "@durable_execution",
        "def handler(event: dict, context: DurableContext) -> list:",
        "    out: list = []",
    ]
    steps = []
    for n, op in enumerate(ops):
        if op[0] == "step":
            steps.append(f"s{n}")
            lines.append(f"    out.append(context.step(lambda _: {n}, name='s{n}'))")
        elif op[0] == "wait":
            lines.append(f"    context.wait(Duration.from_seconds(1), name='w{n}')")
        elif op[0] == "child":
            inner = [f"c{n}_{k}" for k in range(op[1])]
            steps += inner
            lines.append("    out.append(context.run_in_child_context(lambda ctx: [")
            lines += [f"        ctx.step(lambda _: {k}, name='{name}')," for k, name in enumerate(inner)]
            lines.append(f"    ], name='c{n}'))")
        elif op[0] == "map":
            steps.append(f"m{n}")
            lines.append(f"    out.append(context.map(list(range({op[1]})), lambda ctx, x, i, xs:")
            lines.append(f"        ctx.step(lambda _: x, name=f'm{n}-{{i}}'), name='map{n}').get_results())")
        else:
            inner = [f"p{n}_{k}" for k in range(op[1])]
            steps += inner
            lines.append("    out.append(context.parallel([")
            lines += [f"        lambda ctx: ctx.step(lambda _: {k}, name='{name}')," for k, name in enumerate(inner)]
            lines.append(f"    ], name='par{n}').get_results())")
    lines.append("    return out")
    return "\n".join(lines) + "\n", steps


def load(text: str) -> tuple[Any, Path]:
    path = Path(tempfile.mkdtemp()) / f"generated_{next(_modules)}.py"
    path.write_text(text)
    return import_file(path), path


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS, st.data())
def test_recorded_histories_replay_and_any_renamed_step_is_found_at_its_line(ops, data):
    text, steps = source(ops)
    module, _ = load(text)
    doc = record(module.handler, {}, function="generated", name="gen-1")
    history = aws_history.load(doc, "gen-1.json")
    assert history.status == "SUCCEEDED"
    assert replay_history(history, module.handler).status == "completed"
    if not steps:
        return
    renamed = data.draw(st.sampled_from(steps))
    edited_text = text.replace(f"name='{renamed}'", f"name='{renamed}x'").replace(
        f"name=f'{renamed}-", f"name=f'{renamed}x-"
    )
    edited, path = load(edited_text)
    with pytest.raises(NondeterminismError) as info:
        replay_history(aws_history.load(doc, "gen-1.json"), edited.handler)
    line = next(i for i, t in enumerate(edited_text.splitlines(), 1) if f"{renamed}x" in t)
    assert info.value.source is not None
    assert (info.value.kind, info.value.source.path, info.value.source.line) == ("command", str(path), line)
