"""Compare two checkouts of replaytest on the same inputs, interleaved round by round.

    python bench/compare_trees.py OLD_TREE NEW_TREE [--rounds 7]

Each tree is measured with its own virtualenv (``TREE/.venv/bin/python``), in a fresh process
per round, alternating old and new so that a shared, noisy machine slows both alike. Every
figure is a median over the rounds; the ratio new ÷ old is what to read (1.00× = no change).

Measured per tree: ``History.from_json`` (load + validation) and ``replay`` inside one open
sandbox session, on 1,000-iteration activity and timer histories (bench/gen_history.py), and a
``pytest --replay`` run over 200 small histories (wall time of the whole session).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import gen_history

CHILD = r"""
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
            t0 = time.perf_counter(); h = History.from_json(text); t1 = time.perf_counter()
            replay(h, [W]); t2 = time.perf_counter()
            best_load, best_replay = min(best_load, t1 - t0), min(best_replay, t2 - t1)
    out[kind] = {"load_s": best_load, "replay_s": best_replay}
print(json.dumps(out))
"""


def measure_library(tree: Path, histories: dict[str, str]) -> dict[str, dict[str, float]]:
    run = subprocess.run(
        [str(tree / ".venv/bin/python"), "-c", CHILD, str(tree), json.dumps(histories)],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return json.loads(run.stdout)


def measure_pytest(tree: Path, directory: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [
            str(tree / ".venv/bin/python"),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "--replay",
            str(directory),
            "--replay-module",
            "workflows",
        ],
        cwd=tree / "bench",
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        histories = {
            kind: str(gen_history.write(kind, 1000, Path(tmp) / f"{kind}.json")) for kind in ("activities", "timers")
        }
        small = Path(tmp) / "small"
        for i in range(200):
            gen_history.write("activities", 3, small / f"h{i}.json", workflow_id=f"h-{i}")
        samples: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
        for _ in range(args.rounds):
            for side, tree in (("old", args.old), ("new", args.new)):
                for kind, figures in measure_library(tree.resolve(), histories).items():
                    for name, value in figures.items():
                        samples[side].setdefault(f"{kind} {name}", []).append(value)
                samples[side].setdefault("pytest --replay 200 histories", []).append(
                    measure_pytest(tree.resolve(), small)
                )
    print(f"| measure (median of {args.rounds}) | old | new | new ÷ old |")
    print("|---|---:|---:|---:|")
    for name in samples["old"]:
        old, new = statistics.median(samples["old"][name]), statistics.median(samples["new"][name])
        print(f"| {name} | {old * 1000:.1f} ms | {new * 1000:.1f} ms | {new / old:.2f}× |")


if __name__ == "__main__":
    main()
