"""Compare two checkouts of replaytest on the same inputs, interleaved round by round.

    python bench/compare_trees.py OLD_TREE NEW_TREE [--rounds 7] [--only library,pytest,...]

Each tree is measured with its own virtualenv (``TREE/.venv/bin/python``), in a fresh process
per measurement, alternating old and new so that a shared, noisy machine slows both alike.
Every figure is a median over the rounds; the ratio new ÷ old is what to read (1.00× = no
change). Figures are CPU seconds (the process's, or a subprocess's user + system time) unless
they say "wall": on a shared machine wall time mostly measures the other processes. What is
measured, per tree:

- ``library``: ``History.from_json`` (load + validation) and ``replay`` (strict sandbox, one
  open session) of 1,000-iteration activity and timer histories (bench/gen_history.py);
- ``pytest``: a ``pytest --replay`` run over 200 small native histories (wall, whole session);
- ``engine``: each tree's bench/_engine_bench.py ``steps`` (a 300-step workflow on a real
  SQLite file) and ``recovery`` (a new worker rebuilding a running workflow of ~3,000 events);
- ``temporal``: ``pytest --replay`` over 100 Temporal histories (LoopActivitiesWorkflow from
  shared/temporal-bench), Temporal's sandbox on;
- ``aws``: replays of the recorded AWS exports (tests/data/aws/) in one sandbox session, and
  the items of a paged export (60 executions × 25 one-event pages) each split from the file.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import gen_history

LIBRARY = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1] + "/bench")
from replaytest import History, replay, sandbox
import workflows as W
out = {}
for kind, path in json.loads(sys.argv[2]).items():
    text = open(path, encoding="utf-8").read()
    best_load = best_replay = float("inf")
    with sandbox.session():
        for _ in range(3):
            t0 = time.process_time(); h = History.from_json(text); t1 = time.process_time()
            replay(h, [W]); t2 = time.process_time()
            best_load, best_replay = min(best_load, t1 - t0), min(best_replay, t2 - t1)
    out[kind] = {"load_s": best_load, "replay_s": best_replay}
print(json.dumps(out))
"""

AWS = r"""
import importlib, json, sys, time
from pathlib import Path
tree, pages_file = Path(sys.argv[1]), sys.argv[2]
sys.path.insert(0, str(tree))
from replaytest import sandbox
from replaytest.backends.aws import BACKEND, history
from replaytest.backends.aws.replay import replay_history
cases = [("order-1", "orders"), ("batch-1", "batch"), ("sink-1", "kitchen"), ("remind-1", "fanout")]
out = {}
with sandbox.session():
    for name, module in cases:
        doc = json.loads((tree / "tests" / "data" / "aws" / f"{name}.json").read_text())
        handler = importlib.import_module(f"tests.aws_handlers.{module}").handler
        replay_history(history.load(doc, name), handler)  # warm-up
        times = []
        for _ in range(5):
            t = time.process_time(); replay_history(history.load(doc, name), handler); times.append(time.process_time() - t)
        out[f"replay {name}"] = min(times)
pages = json.loads(Path(pages_file).read_text())
t = time.process_time()
entries = BACKEND.entries(Path(pages_file), pages)
for entry in entries:
    history.split_executions(pages)[entry.index]  # what each item's replay does first
out[f"paged export: {len(entries)} items split"] = time.process_time() - t
print(json.dumps(out))
"""


def run(tree: Path, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[str, float]:
    """The subprocess's stdout and the CPU seconds it used (with its own children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [str(tree / ".venv/bin/python"), *argv],
        cwd=cwd or tree,
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{tree}: {argv[:3]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cpu_and_wall(
    tree: Path, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[float, float]:
    t0 = time.perf_counter()
    _, cpu = run(tree, argv, env, cwd)
    return cpu, time.perf_counter() - t0


PYTEST = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:xdist"]


def measure(section: str, tree: Path, inputs: dict[str, Path]) -> dict[str, float]:
    if section == "library":
        histories = {k: str(inputs[k]) for k in ("activities", "timers")}
        figures = json.loads(run(tree, ["-c", LIBRARY, str(tree), json.dumps(histories)])[0])
        return {f"{kind} {name}": v for kind, d in figures.items() for name, v in d.items()}
    if section == "pytest":
        argv = [*PYTEST, "--replay", str(inputs["small"]), "--replay-module", "workflows"]
        cpu, wall = cpu_and_wall(tree, argv, cwd=tree / "bench")
        return {"pytest --replay 200 native histories": cpu, "… wall": wall}
    if section == "engine":
        out = {}
        for what, n, key in (("steps", 300, "wall_s"), ("recovery", 3000, "recovery_s")):
            script = [str(tree / "bench" / "_engine_bench.py"), what, str(inputs["work"] / tree.name), str(n)]
            stdout, cpu = run(tree, script, env={**os.environ, "PYTHONPATH": str(tree)})
            out[f"engine {what}: the whole run"] = cpu
            out[f"engine {what}: {key} (wall)"] = json.loads(stdout.strip().splitlines()[-1])[key]
        return out
    if section == "temporal":
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(inputs["temporal_bench"]), str(tree)])}
        argv = [*PYTEST, "-p", "no:hypothesispytest", "--replay", str(inputs["temporal"])]
        argv += ["--replay-module", "loop_workflows", "--rootdir", str(inputs["temporal"])]
        cpu, wall = cpu_and_wall(tree, argv, env=env, cwd=inputs["temporal"])
        return {"pytest --replay 100 Temporal histories": cpu, "… wall ": wall}
    if section == "aws":
        return json.loads(run(tree, ["-c", AWS, str(tree), str(inputs["pages"])])[0])
    raise ValueError(section)


def aws_pages(out: Path, executions: int = 60, per_page: int = 1, pages: int = 25) -> Path:
    """A paged export: ``executions`` copies of the order-1 export, each in one-event pages."""
    order = json.loads((HERE.parent / "tests" / "data" / "aws" / "order-1.json").read_text())
    events = order["Events"][: per_page * pages]
    doc = []
    for x in range(executions):
        started = {**events[0], "Name": f"order-{x}"}
        evs = [started, *events[1:]]
        doc += [{"Events": evs[i : i + per_page], "NextMarker": str(i)} for i in range(0, len(evs), per_page)]
        del doc[-1]["NextMarker"]
    out.write_text(json.dumps(doc))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", default="library,pytest,engine,temporal,aws")
    args = parser.parse_args()
    sections = args.only.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        inputs: dict[str, Path] = {"work": Path(tmp) / "work"}
        for kind in ("activities", "timers"):
            inputs[kind] = gen_history.write(kind, 1000, Path(tmp) / f"{kind}.json")
        inputs["small"] = Path(tmp) / "small"
        for i in range(200):
            gen_history.write("activities", 3, inputs["small"] / f"h{i}.json", workflow_id=f"h-{i}")
        if "temporal" in sections:
            from _common import temporal_dir
            from temporal_backend import make_histories

            inputs["temporal_bench"] = temporal_dir()  # type: ignore[assignment]
            inputs["temporal"] = Path(tmp) / "temporal"
            inputs["temporal"].mkdir()
            make_histories(100, 2, inputs["temporal"])
        inputs["pages"] = aws_pages(Path(tmp) / "paged.json")
        samples: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
        for r in range(args.rounds):
            for section in sections:
                for side, tree in (
                    (("old", args.old), ("new", args.new)) if r % 2 == 0 else (("new", args.new), ("old", args.old))
                ):
                    for name, value in measure(section, tree.resolve(), inputs).items():
                        samples[side].setdefault(name, []).append(value)
            print(f"round {r + 1} of {args.rounds} done", file=sys.stderr, flush=True)
    print(f"| measure (median of {args.rounds}) | old | new | new ÷ old |")
    print("|---|---:|---:|---:|")
    for name in samples["old"]:
        old, new = statistics.median(samples["old"][name]), statistics.median(samples["new"][name])
        print(f"| {name} | {old * 1000:.1f} ms | {new * 1000:.1f} ms | {new / old:.2f}× |")


if __name__ == "__main__":
    main()
