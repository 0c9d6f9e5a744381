"""Temporal backend benchmark: ``pytest --replay`` over N small Temporal histories beside the
hand-written loop Temporal's docs suggest (a parametrized test building a Replayer and
calling ``replay_workflow`` per history), same run, same process count (one), Temporal's
sandbox on; and replaytest's per-history overhead over temporalio's own batched replay
(``Replayer.replay_workflows`` over all histories at once), without pytest.

    python bench/temporal_backend.py [--histories 1000] [--repeats 3] [--activities 2]

Histories: /work/shared/temporal-bench/gen_loop_history.py (LoopActivitiesWorkflow), one file
per workflow id. Prints a markdown table; repeats are interleaved and reported as medians.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from _common import median, temporal_dir, temporal_history_path

LOOP_TEST = """
import asyncio, pathlib, pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from loop_workflows import LoopActivitiesWorkflow

FILES = sorted(pathlib.Path({dir!r}).glob("*.json"))

@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_replay(path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    asyncio.run(Replayer(workflows=[LoopActivitiesWorkflow]).replay_workflow(history))
"""

BATCH = """
import asyncio, json, pathlib, sys, time
sys.path.insert(0, {td!r}); sys.path.insert(0, {root!r})
files = sorted(pathlib.Path({dir!r}).glob("*.json"))
texts = [(p.stem, p.read_text()) for p in files]
from loop_workflows import LoopActivitiesWorkflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from replaytest.backends import ReplaySettings, Sessions, replay_entry
from replaytest.backends import temporal
import loop_workflows
mode = sys.argv[1]
t0 = time.perf_counter()
if mode == "temporalio":
    async def histories():
        for wid, text in texts:
            yield WorkflowHistory.from_json(wid, text)
    asyncio.run(Replayer(workflows=[LoopActivitiesWorkflow]).replay_workflows(histories()))
elif mode == "percall":
    for wid, text in texts:
        asyncio.run(Replayer(workflows=[LoopActivitiesWorkflow]).replay_workflow(WorkflowHistory.from_json(wid, text)))
else:
    settings = ReplaySettings([loop_workflows], ["loop_workflows"])
    with Sessions(settings) as sessions:
        for p, (wid, text) in zip(files, texts):
            doc = json.loads(text)
            [entry] = temporal.entries(p, doc)
            replay_entry(entry, doc, settings, sessions, str(p))
print(json.dumps(time.perf_counter() - t0))
"""


def make_histories(n: int, activities: int, out: Path) -> None:
    src = json.loads(temporal_history_path("activities", activities).read_text())  # type: ignore[union-attr]
    for i in range(n):
        (out / f"loop-{i:04d}.json").write_text(json.dumps(src))


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{argv} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--histories", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--activities", type=int, default=2)
    a = ap.parse_args()
    td = temporal_dir()
    if td is None:
        raise SystemExit("needs /work/shared/temporal-bench (or REPLAYTEST_TEMPORAL_BENCH)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        hdir = work / "histories"
        hdir.mkdir()
        make_histories(a.histories, a.activities, hdir)
        (work / "test_loop.py").write_text(LOOP_TEST.format(dir=str(hdir)))
        (work / "batch.py").write_text(BATCH.format(dir=str(hdir), td=str(td), root=str(HERE.parent)))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(td), str(HERE.parent)])}
        common = ["-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:hypothesispytest", "--rootdir", str(work)]
        ours = [sys.executable, "-m", "pytest", "--replay", str(hdir), "--replay-module", "loop_workflows", *common]
        loop = [sys.executable, "-m", "pytest", str(work / "test_loop.py"), *common]
        times: dict[str, list[float]] = {"ours": [], "loop": [], "batch": [], "percall": [], "backend": []}
        for _ in range(a.repeats):
            times["ours"].append(timed(ours, work, env))
            times["loop"].append(timed(loop, work, env))
            for key, mode in (("batch", "temporalio"), ("percall", "percall"), ("backend", "replaytest")):
                out = subprocess.run(
                    [sys.executable, str(work / "batch.py"), mode], cwd=work, env=env, capture_output=True, text=True
                )
                if out.returncode != 0:
                    raise SystemExit(out.stderr[-3000:])
                times[key].append(json.loads(out.stdout.strip().splitlines()[-1]))
    m = {k: median(v) for k, v in times.items()}
    n = a.histories
    print(
        f"{n} Temporal histories ({a.activities} activities each, {3 + 3 * a.activities + 3 * a.activities + 1} "
        f"events), one process, Temporal's sandbox on, medians of {a.repeats}:\n"
    )
    print("| run | wall | per history |")
    print("|---|---|---|")
    print(f"| `pytest --replay` (replaytest) | {m['ours']:.2f} s | {1000 * m['ours'] / n:.1f} ms |")
    print(f"| hand-written pytest loop (Replayer per test) | {m['loop']:.2f} s | {1000 * m['loop'] / n:.1f} ms |")
    print(f"| temporalio `replay_workflows` batch (no pytest) | {m['batch']:.2f} s | {1000 * m['batch'] / n:.1f} ms |")
    print(
        f"| temporalio, a fresh `Replayer.replay_workflow` per history (no pytest) | {m['percall']:.2f} s | "
        f"{1000 * m['percall'] / n:.1f} ms |"
    )
    print(
        f"| replaytest backend, same histories (no pytest) | {m['backend']:.2f} s | {1000 * m['backend'] / n:.1f} ms |"
    )
    print(
        f"\npytest --replay is {m['loop'] / m['ours']:.2f}x faster than the hand-written loop "
        f"(without pytest: replaytest's backend {m['percall'] / m['backend']:.2f}x faster than a Replayer per "
        f"history); replaytest's overhead over temporalio's batched replay: "
        f"{100 * (m['backend'] / m['batch'] - 1):+.0f}%; pytest's per-item cost on top: "
        f"{1000 * (m['ours'] - m['backend']) / n:.1f} ms (replaytest) vs {1000 * (m['loop'] - m['percall']) / n:.1f} ms "
        "(the loop)"
    )


if __name__ == "__main__":
    main()
