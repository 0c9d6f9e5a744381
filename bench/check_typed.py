"""Differential check of the typed structs (replaytest/history/typed.py) against jsonschema.

usage: python bench/check_typed.py [MUTANTS]   (default 3000)

Takes valid histories (the bench generator's shapes and tests/data/*.json when present),
mutates them at random (drop/add keys, swap types and values, change event types, reorder,
nudge numbers to bounds) and checks, on every one, that the typed structs (both entry points:
``convert`` of a parsed document and ``decode`` of its bytes, which must agree) accept only what
jsonschema accepts, and accept all of it once integers written as floats (``1.0``) are written
as integers (the structs leave those to jsonschema). tests/test_history.py runs the same
property under Hypothesis.
"""

from __future__ import annotations

import copy
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import gen_history

from replaytest.history.schema import _validator, schema
from replaytest.history.typed import convert, decode

EVENT_TYPES = schema()["$defs"]["event"]["properties"]["type"]["enum"]
ODD_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    1,
    1.0,
    1.5,
    -0.5,
    "",
    "x",
    "1",
    [],
    [1],
    {},
    {"a": 1},
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00.000Z\n",
    "٢٠٢٦-01-01T00:00:00Z",
    "side_effect",
    "patch",
    "WorkflowExecutionStarted",
    "ActivityTaskScheduled",
]


def integral_floats_as_ints(doc):
    """``1.0`` → ``1`` everywhere: the one way of writing a valid integer the structs leave to jsonschema."""
    if isinstance(doc, float) and doc.is_integer():
        return int(doc)
    if isinstance(doc, dict):
        return {k: integral_floats_as_ints(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [integral_floats_as_ints(v) for v in doc]
    return doc


def paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from paths(v, prefix + (i,))


def get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


def mutate(doc, rng: random.Random):
    doc = copy.deepcopy(doc)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        all_paths = list(paths(doc))
        path = rng.choice(all_paths[1:]) if len(all_paths) > 1 else ()
        parent, key = get(doc, path[:-1]), path[-1]
        op = rng.randrange(7)
        if op == 0 and isinstance(parent, dict):
            del parent[key]
        elif op == 1:
            parent[key] = rng.choice(ODD_VALUES)
        elif op == 2 and isinstance(parent, dict):
            parent[rng.choice(["extra", "type", "attrs", "id", "time", "format", "worker", "value"])] = rng.choice(
                ODD_VALUES
            )
        elif op == 3 and key == "type" and isinstance(parent, dict):
            parent[key] = rng.choice(EVENT_TYPES + ["Bogus"])
        elif op == 4 and isinstance(parent[key], (int, float)) and not isinstance(parent[key], bool):
            parent[key] = rng.choice([0, -1, 0.0, 1, 0.5, -0.0001, parent[key] + 1])
        elif op == 5 and isinstance(parent, list) and len(parent) > 1:
            i, j = rng.randrange(len(parent)), rng.randrange(len(parent))
            parent[i], parent[j] = parent[j], parent[i]
        elif op == 6 and isinstance(parent[key], str):
            parent[key] = rng.choice(["", parent[key] + "x", parent[key][:-1], " " + parent[key]])
    return doc


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    rng = random.Random(1)
    ref = _validator()

    def fast(doc) -> bool:
        """Both entry points: a parsed document, and its JSON bytes (they must agree)."""
        parsed, read = convert(doc) is not None, decode(json.dumps(doc).encode()) is not None
        assert parsed == read, f"convert says {parsed}, decode says {read}: {json.dumps(doc)[:400]}"
        return parsed

    bases = [
        {"format": "replaytest.history", "version": 1, "events": gen_history.events(k, 3)}
        for k in ("activities", "timers")
    ]
    for p in sorted((ROOT / "tests").rglob("*.json")) + sorted((ROOT / "fixtures").rglob("*.json")):
        try:
            d = json.loads(p.read_text())
        except (ValueError, OSError):
            continue
        if isinstance(d, dict) and d.get("format") == "replaytest.history":
            bases.append(d)
    for b in bases:
        assert fast(b) and ref.is_valid(b), "a base history is not valid"
    disagree = accepted = 0
    for i in range(n):
        m = mutate(rng.choice(bases), rng)
        if fast(m) and not ref.is_valid(m):
            disagree += 1
            print("ACCEPTED what jsonschema refuses:", json.dumps(m)[:400])
        m = integral_floats_as_ints(m)
        f, r = fast(m), ref.is_valid(m)
        accepted += r
        if f != r:
            disagree += 1
            if disagree <= 5:
                print(f"DISAGREE (fast={f}, jsonschema={r}):", json.dumps(m)[:400])
    print(
        f"{n} mutants from {len(bases)} histories: {accepted} valid, {n - accepted} invalid, {disagree} disagreements"
    )
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main())
