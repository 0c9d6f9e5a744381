"""Subprocess: sandbox setup cost with many modules loaded (freezegun's start scans sys.modules).

usage: python bench/_sandbox_setup.py TARGET_MODULES WORKDIR
TARGET_MODULES 0 measures the process as it is (replaytest + bench workflows only); otherwise
stdlib modules are imported, then synthetic modules (each binding ``from time import time``,
``from datetime import datetime`` … as freezegun must rewrite) until sys.modules holds at
least TARGET_MODULES. Prints one JSON line.
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

_perf = time.perf_counter  # bound before any freeze; the sandbox keeps perf_counter real anyway

SKIP = {
    "antigravity",
    "this",
    "idlelib",
    "tkinter",
    "turtle",
    "turtledemo",
    "ensurepip",
    "venv",
    "test",
    "pydoc_data",
    "lib2to3",
    "__phello__",
    "_testcapi",
    "_testinternalcapi",
    "_testbuffer",
    "_testimportmultiple",
    "_testmultiphase",
    "_xxtestfuzz",
    "xxlimited",
    "xxlimited_35",
    "xxsubtype",
    "_xxsubinterpreters",
    "msilib",
    "winreg",
    "winsound",
    "_winapi",
    "_msi",
    "nt",
    "_overlapped",
    "msvcrt",
    "_scproxy",
    "_tkinter",
    "_curses",
    "curses",
    "readline",
    "_crypt",
    "crypt",
    "nis",
    "spwd",
    "ossaudiodev",
    "sqlite3",
    "_sqlite3",
    "sys",
    "builtins",
    "pty",
    "tty",
    "getpass",
    "cgi",
    "cgitb",
}

SYNTH = """from time import time, monotonic, perf_counter, sleep, localtime, gmtime, strftime
from datetime import datetime, date, timedelta
import time as _time, datetime as _dt, random
NOW = None
def f():
    return time()
"""


def load_modules(target: int, workdir: Path) -> dict[str, int]:
    before = len(sys.modules)
    out = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        real_stdout, sys.stdout = sys.stdout, out
        try:
            for name in sorted(sys.stdlib_module_names):
                if name in SKIP or name.startswith("_test"):
                    continue
                try:
                    __import__(name)
                except BaseException:
                    pass
        finally:
            sys.stdout = real_stdout
    stdlib = len(sys.modules) - before
    synth_dir = workdir / "synthmods"
    synth_dir.mkdir(parents=True, exist_ok=True)
    need = max(200, target - len(sys.modules))
    for i in range(need):
        p = synth_dir / f"bench_synth_{i:05d}.py"
        if not p.exists():
            p.write_text(SYNTH)
    sys.path.insert(0, str(synth_dir))
    for i in range(need):
        __import__(f"bench_synth_{i:05d}")
    return {"stdlib_added": stdlib, "synthetic_added": need}


def per_call(fn, iterations: int, batches: int = 7) -> float:
    times = []
    for _ in range(batches):
        t0 = _perf()
        for _ in range(iterations):
            fn()
        times.append((_perf() - t0) / iterations)
    return statistics.median(times)


def main() -> None:
    target, workdir = int(sys.argv[1]), Path(sys.argv[2])
    sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]
    import random

    import gen_history
    from _common import load_trusted

    from bench import workflows as W
    from replaytest import replay, sandbox
    from replaytest.sandbox import sessions as sandbox_sessions

    added = load_modules(target, workdir) if target else {}
    res: dict = {"modules": len(sys.modules), **added}

    t0 = _perf()
    sandbox_sessions._acquire()
    res["session_first_start_s"] = _perf() - t0
    t0 = _perf()
    sandbox_sessions._release()
    res["session_first_stop_s"] = _perf() - t0
    pairs = []
    for _ in range(5):
        t0 = _perf()
        with sandbox.session():
            pass
        pairs.append(_perf() - t0)
    res["session_start_stop_s"] = statistics.median(pairs)

    now = datetime(2026, 1, 1, tzinfo=UTC)
    rng = random.Random(1)

    def step() -> None:
        with sandbox.workflow_code(now, rng):
            pass

    with sandbox.session():
        res["step_enter_exit_s"] = per_call(step, 2000)
        # what workflow code pays while sandboxed: a patched clock read and a random draw
        with sandbox.workflow_code(now, rng):
            res["datetime_now_in_workflow_s"] = per_call(datetime.now, 2000)
            res["random_in_workflow_s"] = per_call(random.random, 2000)
    res["datetime_now_outside_s"] = per_call(datetime.now, 2000)

    # small histories: per-call session (replay() alone) vs inside one session vs no sandbox
    h = load_trusted(gen_history.to_json(gen_history.events("activities", 3)).encode())

    def rp(mode):
        return lambda: replay(h, [W], sandbox=mode)

    res["small_replay_events"] = len(h)
    res["small_replay_none_s"] = per_call(rp(None), 50, 5)
    res["small_replay_strict_own_session_s"] = per_call(rp("strict"), 10, 5)
    with sandbox.session():
        res["small_replay_strict_in_session_s"] = per_call(rp("strict"), 50, 5)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
