"""Feed generated malformed histories to the three surfaces a history reaches and count the
inputs that end in anything other than one of replaytest's verdicts.

    python bench/fuzz_histories.py                 # 300 inputs per surface, seed 1
    python bench/fuzz_histories.py -n 100 --seed 7 --surface cli

Surfaces:
  load    ``History.load`` in this process: a History or a HistoryFormatError, nothing else.
  cli     ``replaytest replay FILE --module fixtures.workflows.orders``, one process per input
          (so one crash cannot hide the next): exit 0/1/2, no traceback, no FAIL line that
          names a Python built-in exception, no hang (timeout), no output that fails to encode.
  pytest  one ``pytest --replay DIR`` session over all inputs (as a user runs it): every input
          is reported, each with a replay_outcome other than ``error``; no INTERNALERROR.

A verdict is: replayed ok, a divergence, a workflow task error, an unknown workflow, or an
invalid-history error. Everything else (tracebacks, internal exceptions, INTERNALERROR, hangs)
is counted as "non-verdict". Uses only the public API and the command lines, so it runs
against any version of replaytest.
"""

from __future__ import annotations

import argparse
import builtins
import copy
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASES = sorted((ROOT / "fixtures" / "histories").glob("*.json"))
MODULES = ["fixtures.workflows.orders", "fixtures.workflows.payments", "fixtures.workflows.onboarding"]
BUILTIN_ERRORS = sorted(
    n
    for n in dir(builtins)
    if isinstance(getattr(builtins, n), type) and issubclass(getattr(builtins, n), BaseException)
)
#: A bare built-in exception where a report belongs (``FAIL  path: KeyError: '99'``), a traceback, or
#: pytest giving up. "workflow code raised KeyError" is a verdict (a workflow task error), not this.
INTERNAL = re.compile(
    r"^FAIL  .*?\.json: (" + "|".join(BUILTIN_ERRORS) + r"): |Traceback \(most recent call last\)"
    r"|INTERNALERROR|internal error",
    re.M,
)

Doc = dict[str, Any]


# ---------------------------------------------------------------- mutations
def _events(doc: Doc) -> list[Doc]:
    return doc["events"]


def _pick(rng: random.Random, doc: Doc, *types: str) -> Doc | None:
    found = [e for e in _events(doc) if not types or e["type"] in types]
    return rng.choice(found) if found else None


def drop_event(rng: random.Random, doc: Doc) -> None:
    ev = _events(doc)
    if len(ev) > 1:
        del ev[rng.randrange(1, len(ev))]
        for i, e in enumerate(ev):
            e["id"] = i + 1


def duplicate_event(rng: random.Random, doc: Doc) -> None:
    ev = _events(doc)
    i = rng.randrange(len(ev))
    ev.insert(rng.randrange(1, len(ev) + 1), copy.deepcopy(ev[i]))
    for j, e in enumerate(ev):
        e["id"] = j + 1


def swap_events(rng: random.Random, doc: Doc) -> None:
    ev = _events(doc)
    if len(ev) > 2:
        i, j = rng.randrange(1, len(ev)), rng.randrange(1, len(ev))
        ev[i], ev[j] = ev[j], ev[i]
        for k, e in enumerate(ev):
            e["id"] = k + 1


def dangling_reference(rng: random.Random, doc: Doc) -> None:
    e = _pick(
        rng,
        doc,
        "ActivityTaskCompleted",
        "ActivityTaskFailed",
        "ActivityTaskStarted",
        "TimerFired",
        "WorkflowTaskCompleted",
        "WorkflowTaskStarted",
    )
    if e:
        for key in ("scheduled_event_id", "started_event_id"):
            if key in e["attrs"]:
                e["attrs"][key] = rng.choice([99, 999999, 1, len(_events(doc)) + 5])


def foreign_sequence_id(rng: random.Random, doc: Doc) -> None:
    e = _pick(
        rng, doc, "ActivityTaskCompleted", "ActivityTaskFailed", "TimerFired", "ActivityTaskScheduled", "TimerStarted"
    )
    if e:
        key = "timer_id" if "timer_id" in e["attrs"] else "activity_id"
        e["attrs"][key] = rng.choice(["99", "0", "x", "1"])


def outcome_for_never_scheduled(rng: random.Random, doc: Doc) -> None:
    ev = _events(doc)
    kind = rng.choice(["ActivityTaskCompleted", "TimerFired"])
    attrs = (
        {"activity_id": "99", "scheduled_event_id": 99, "result": 1}
        if kind == "ActivityTaskCompleted"
        else {"timer_id": "99", "started_event_id": 99}
    )
    ev.insert(rng.randrange(2, len(ev) + 1), {"id": 0, "time": ev[0]["time"], "type": kind, "attrs": attrs})
    for i, e in enumerate(ev):
        e["id"] = i + 1


def input_arity(rng: random.Random, doc: Doc) -> None:
    doc["events"][0]["attrs"]["input"] = rng.choice([[], [1, 2, 3], [None], ["x"], [{}]])


def bad_time(rng: random.Random, doc: Doc) -> None:
    e = rng.choice(_events(doc))
    e["time"] = rng.choice(
        [
            "2026-13-05T09:00:00.000Z",
            "0000-01-05T09:00:00.000Z",
            "2026-01-05T09:00:00.000Z\n",
            "\u0662\u0660\u0662\u0666-01-05T09:00:00.000Z",
            "2026-02-30T09:00:00.000Z",
            "2026-01-05T25:00:00.000Z",
            "9999-12-31T23:59:59.999Z",
            "2026-01-05T09:00:00.0000000000001Z",
        ]
    )


def hostile_id(rng: random.Random, doc: Doc) -> None:
    attrs = doc["events"][0]["attrs"]
    key = rng.choice(["workflow_id", "workflow_type", "run_id"])
    attrs[key] = rng.choice(
        [
            "\ud800",
            "a\nFAIL  forged",
            "\x1b[2J\x1b[31mred",
            "a::b",
            "a\rb",
            "\u202eevil",
            "x" * 5000,
            "\udcff\udcfe",
            "tab\there",
            "nul\x00byte",
        ]
    )


def second_start(rng: random.Random, doc: Doc) -> None:
    ev = _events(doc)
    ev.insert(rng.randrange(1, len(ev) + 1), copy.deepcopy(ev[0]))
    for i, e in enumerate(ev):
        e["id"] = i + 1


def only_start_and_close(rng: random.Random, doc: Doc) -> None:
    ev = _events(doc)
    doc["events"] = [
        ev[0],
        {"id": 2, "time": ev[0]["time"], "type": "WorkflowExecutionCompleted", "attrs": {"result": 1}},
    ]


def retype_event(rng: random.Random, doc: Doc) -> None:
    e = _pick(rng, doc)
    if e and e["id"] != 1:
        e["type"] = rng.choice(
            [
                "WorkflowExecutionCompleted",
                "WorkflowTaskFailed",
                "TimerFired",
                "MarkerRecorded",
                "ActivityTaskScheduled",
                "WorkflowExecutionSignaled",
                "WorkflowTaskStarted",
            ]
        )


def drop_attr(rng: random.Random, doc: Doc) -> None:
    e = rng.choice(_events(doc))
    if e["attrs"]:
        del e["attrs"][rng.choice(sorted(e["attrs"]))]


def wrong_type(rng: random.Random, doc: Doc) -> None:
    e = rng.choice(_events(doc))
    if e["attrs"]:
        e["attrs"][rng.choice(sorted(e["attrs"]))] = rng.choice(["1", 1, None, [], {}, True, -1, 1.5, "\ud800"])


def nested_payload(rng: random.Random, doc: Doc) -> None:
    e = _pick(rng, doc, "ActivityTaskCompleted", "WorkflowExecutionCompleted")
    if e:
        key = "result"
        e["attrs"][key] = "__NEST__"


def signal_never_handled(rng: random.Random, doc: Doc) -> None:
    ev = _events(doc)
    ev.insert(
        rng.randrange(2, len(ev) + 1),
        {
            "id": 0,
            "time": ev[0]["time"],
            "type": "WorkflowExecutionSignaled",
            "attrs": {"signal_name": rng.choice(["x", "\ud800", "a\nb"]), "payload": None},
        },
    )
    for i, e in enumerate(ev):
        e["id"] = i + 1


def marker_noise(rng: random.Random, doc: Doc) -> None:
    ev = _events(doc)
    ev.insert(
        rng.randrange(2, len(ev) + 1),
        {
            "id": 0,
            "time": ev[0]["time"],
            "type": "MarkerRecorded",
            "attrs": {
                "marker_name": rng.choice(["side_effect", "patch"]),
                "marker_id": "1",
                "value": rng.choice([None, 1, "x"]),
            },
        },
    )
    for i, e in enumerate(ev):
        e["id"] = i + 1


STRUCTURAL: list[Callable[[random.Random, Doc], None]] = [
    drop_event,
    duplicate_event,
    swap_events,
    dangling_reference,
    foreign_sequence_id,
    outcome_for_never_scheduled,
    input_arity,
    bad_time,
    hostile_id,
    second_start,
    only_start_and_close,
    retype_event,
    drop_attr,
    wrong_type,
    nested_payload,
    signal_never_handled,
    marker_noise,
]


def _text(rng: random.Random, doc: Doc) -> str:
    text = json.dumps(doc, ensure_ascii=rng.random() < 0.5)
    if "__NEST__" in text:
        depth = rng.choice([50, 999, 1500, 100000])
        text = text.replace('"__NEST__"', "[" * depth + "]" * depth, 1)
    return text


def textual(rng: random.Random, text: str) -> bytes:
    """Mutations of the bytes: what a JSON parser sees before any schema."""
    choice = rng.randrange(9)
    if choice == 0:
        return text[: rng.randrange(len(text))].encode("utf-8", "surrogatepass")
    if choice == 1:  # a number JSON allows but Python refuses
        return re.sub(r'"seed": \d+', '"seed": ' + "9" * rng.choice([4301, 5000, 20000]), text, count=1).encode(
            "utf-8", "surrogatepass"
        )
    if choice == 2:
        return re.sub(
            r'"initial_interval": [\d.]+',
            '"initial_interval": ' + rng.choice(["NaN", "Infinity", "-Infinity", "1e400"]),
            text,
        ).encode("utf-8", "surrogatepass")
    if choice == 3:
        return re.sub(
            r'"start_to_close_timeout": [\d.]+',
            '"start_to_close_timeout": ' + rng.choice(["NaN", "Infinity"]),
            text,
            count=1,
        ).encode("utf-8", "surrogatepass")
    if choice == 4:  # duplicate keys: the last one would silently win
        return text.replace('"workflow_type": ', '"workflow_type": "shadow", "workflow_type": ', 1).encode(
            "utf-8", "surrogatepass"
        )
    if choice == 5:  # raw invalid UTF-8 inside the workflow id
        return text.encode("utf-8", "surrogatepass").replace(b'"workflow_id": "', b'"workflow_id": "\xff\xfe', 1)
    if choice == 6:
        return text.encode("utf-8", "surrogatepass") + b"\n" + bytes([rng.randrange(256)])
    if choice == 7:
        return ("[" * rng.choice([1000, 5000, 200000])).encode()
    return text.encode("utf-8", "surrogatepass")


def generate(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    bases = [json.loads(p.read_text(encoding="utf-8")) for p in BASES]
    out = []
    for _ in range(n):
        doc = copy.deepcopy(rng.choice(bases))
        for _ in range(rng.choice([1, 1, 2, 3])):
            rng.choice(STRUCTURAL)(rng, doc)
        text = _text(rng, doc)
        out.append(textual(rng, text) if rng.random() < 0.35 else text.encode("utf-8", "surrogatepass"))
    return out


def write_inputs(inputs: list[bytes], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, data in enumerate(inputs):
        p = directory / f"h{i:04d}.json"
        p.write_bytes(data)
        paths.append(p)
    return paths


# ---------------------------------------------------------------- surfaces
def surface_load(paths: list[Path], timeout: float) -> list[tuple[str, str]]:
    from replaytest import History, HistoryFormatError

    bad = []
    for p in paths:
        try:
            History.load(p)
        except HistoryFormatError:
            pass
        except BaseException as e:
            bad.append((p.name, f"{type(e).__name__}: {str(e)[:120]}"))
    return bad


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONIOENCODING="utf-8")
    env.pop("PYTEST_ADDOPTS", None)
    return env


def _limit_memory() -> None:
    import resource  # a /dev/zero read must hit MemoryError early, not the shared machine

    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def special_inputs(directory: Path) -> list[Path]:
    """Not files at all: a FIFO nobody writes to, and /dev/zero."""
    fifo = directory.parent / "fifo.json"
    if not fifo.exists():
        os.mkfifo(fifo)
    return [fifo, Path("/dev/zero")]


def surface_cli(paths: list[Path], timeout: float) -> list[tuple[str, str]]:
    paths = paths + special_inputs(paths[0].parent)
    exe = [sys.executable, "-m", "replaytest", "replay"]
    mods = [a for m in MODULES for a in ("--module", m)]
    bad = []
    for p in paths:
        try:
            r = subprocess.run(
                [*exe, str(p), *mods],
                capture_output=True,
                cwd=ROOT,
                env=_env(),
                timeout=timeout,
                preexec_fn=_limit_memory,
            )
        except subprocess.TimeoutExpired:
            bad.append((p.name, f"hang (> {timeout:.0f} s)"))
            continue
        out = (r.stdout + r.stderr).decode("utf-8", "replace")
        m = INTERNAL.search(out)
        if r.returncode not in (0, 1, 2) or m:
            line = next((ln for ln in out.splitlines() if INTERNAL.search(ln)), out.strip().splitlines()[-1:] or [""])
            bad.append((p.name, f"exit {r.returncode}: {str(line)[:160]}"))
    return bad


def surface_pytest(paths: list[Path], timeout: float, xdist: bool = False) -> list[tuple[str, str]]:
    directory = paths[0].parent
    junit = directory.parent / "junit.xml"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "--replay",
        str(directory),
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "-o",
        "junit_family=xunit1",
        f"--junitxml={junit}",
        *[a for m in MODULES for a in ("--replay-module", m)],
    ]
    if xdist:
        cmd += ["-n", "2"]
    try:
        r = subprocess.run(cmd, capture_output=True, cwd=ROOT, env=_env(), timeout=timeout * len(paths))
    except subprocess.TimeoutExpired:
        return [(p.name, "hang") for p in paths]
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    seen: dict[str, str] = {}
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            name = Path(case.get("file") or case.get("classname", "").replace(".", "/")).name
            props = {p.get("name"): p.get("value") for p in case.iter("property")}
            outcome = props.get("replay_outcome")
            text = "".join((el.text or "") for el in case if el.tag in ("failure", "error"))
            file_name = re.search(r"h\d{4}\.json", (case.get("file") or "") + (case.get("classname") or "") + text)
            key = file_name.group(0) if file_name else name
            if outcome in (None, "error"):
                lines = [ln[1:].strip() for ln in text.splitlines() if ln.startswith("E ")] or text.splitlines()[-1:]
                first = lines[-1] if lines else text[:120]
                seen[key] = f"outcome {outcome}: {first.strip()[:140]}"
            else:
                seen[key] = ""
    bad = [(k, v) for k, v in seen.items() if v]
    missing = [p.name for p in paths if p.name not in seen]
    why = "INTERNALERROR" if "INTERNALERROR" in out else f"not reported (exit {r.returncode})"
    bad += [(n, why) for n in missing]
    return bad


SURFACES = {"load": surface_load, "cli": surface_cli, "pytest": surface_pytest}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=300, help="inputs per surface (default 300)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--surface", action="append", choices=list(SURFACES), help="default: all three")
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per input before it counts as a hang")
    ap.add_argument("--xdist", action="store_true", help="pytest surface with -n 2")
    ap.add_argument("--show", type=int, default=5, help="examples to print per surface")
    ap.add_argument("--keep", metavar="DIR", help="write the inputs here and keep them")
    ap.add_argument(
        "--root",
        type=Path,
        help="the replaytest checkout to test (default: this one); run with "
        "that checkout's python, e.g. /path/.venv/bin/python",
    )
    args = ap.parse_args()
    global ROOT
    ROOT = (args.root or ROOT).resolve()
    sys.path.insert(0, str(ROOT))
    inputs = generate(args.n, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(args.keep or tmp) / "inputs"
        paths = write_inputs(inputs, directory)
        for name in args.surface or list(SURFACES):
            t0 = time.perf_counter()
            if name == "pytest":
                bad = surface_pytest(paths, args.timeout, args.xdist)
            else:
                bad = SURFACES[name](paths, args.timeout)
            took = time.perf_counter() - t0
            total = len(paths) + (2 if name == "cli" else 0)
            print(f"{name:7} {len(bad):4d} of {total} inputs ended in a non-verdict ({took:.0f} s)")
            for file_name, why in bad[: args.show]:
                print(f"          {file_name}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
