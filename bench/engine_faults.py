"""Issue 14, items 9-13, and issue 19, items 10-11, as counts: hostile workflows that kill or
hang a worker, and database faults that end a command in a traceback instead of one line.

The workflows of issue 19 (a busy loop, KeyboardInterrupt, another BaseException, os._exit, a
300 MB activity result) run in a real ``replaytest worker --until-idle --virtual-clock``
subprocess each, beside ``fine``: os._exit would end this process, and a busy loop would keep a
thread of it spinning.

    python bench/engine_faults.py              # this checkout
    PYTHONPATH=/path/to/other/checkout python bench/engine_faults.py   # another one, same probes

The workflows are fixtures/workflows/hostile.py, copied to a temporary directory as the
top-level module ``hostile_probe`` (so another checkout's ``fixtures`` cannot shadow it).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBES = Path(tempfile.mkdtemp(prefix="replaytest-engine-faults-"))
shutil.copy(ROOT / "fixtures" / "workflows" / "hostile.py", PROBES / "hostile_probe.py")
PATH = os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(PROBES), str(ROOT)]))
sys.path[:0] = PATH.split(os.pathsep)  # the checkout under test (PYTHONPATH) first, as for the CLI below

HOSTILE = [
    "sleep_forever",
    "sleep_1e300",
    "huge_retry_interval",
    "huge_timeout",
    "nan_backoff",
    "surrogate_patch_id",
    "raises_surrogate",
    "returns_surrogate_value",
    "activity_returns_surrogate",
    "centuries",
    "retries_for_centuries",
    "returns_big",
    "exits",
    "activity_raises_unprintable",
]
MODULE = "hostile_probe"
# issue 19: each in its own worker process (see worker_processes)
IN_A_WORKER = ["busy_loop", "raises_keyboard_interrupt", "raises_base_exception", "hard_exit", "activity_returns_huge"]
WORKER_TIMEOUT = 60.0  # seconds; a worker that has not finished by then hangs


def hostile_workflows() -> int:
    """Each hostile workflow beside ``fine`` on one virtual-clock engine; returns how many killed the worker."""
    import hostile_probe as hostile

    from replaytest.engine import Engine

    died = 0
    for name in HOSTILE:
        e = Engine(Path(tempfile.mkdtemp()) / "e.db", clock="virtual").register(hostile)
        if name == "returns_big":
            e.store.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 10_000)  # what a 1 GB value meets by default
        e.start(getattr(hostile, name), id="hostile")
        e.start(hostile.fine, id="fine")
        error: list[BaseException] = []

        def work() -> None:
            try:
                e.work()
            except BaseException as x:
                error.append(x)

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        worker.join(timeout=30)
        if worker.is_alive():
            died += 1
            outcome = "WORKER HUNG (work() did not return in 30 s)"
        elif error:
            died += 1
            outcome = f"WORKER DIED: {type(error[0]).__name__}"
        else:
            outcome = f"worker survived; fine {e.describe('fine').status}"
        print(f"  {name:28} {outcome}")
    return died


def worker_processes() -> int:
    """Each of IN_A_WORKER beside ``fine``, worked by a ``replaytest worker --until-idle`` process;
    returns how many killed, hung or stalled that worker (or left ``fine`` unfinished)."""
    import time

    import hostile_probe as hostile

    from replaytest.engine import Engine

    died = 0
    for name in IN_A_WORKER:
        db = Path(tempfile.mkdtemp()) / "e.db"
        with Engine(db).register(hostile) as e:
            e.start(getattr(hostile, name), id="hostile")
            e.start(hostile.fine, id="fine")
        started = time.perf_counter()
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "replaytest",
                "worker",
                "--module",
                MODULE,
                "--until-idle",
                "--virtual-clock",
                "-q",
                "--db",
                str(db),
            ],
            cwd=PROBES,
            env={**os.environ, "PYTHONPATH": PATH, "HOSTILE_HUGE_MB": "300"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _, err = worker.communicate(timeout=WORKER_TIMEOUT)
        except subprocess.TimeoutExpired:
            worker.kill()
            _, err = worker.communicate()
            outcome = f"WORKER HUNG (killed after {WORKER_TIMEOUT:g} s)"
        else:
            with Engine(db) as e:
                fine, info = e.describe("fine").status, e.describe("hostile")
                failed = [ev for ev in e.history("hostile").events if ev.type == "ActivityTaskFailed"]
            if worker.returncode != 0:
                last = err.strip().splitlines()[-1][:60] if err.strip() else ""
                outcome = f"WORKER DIED: exit {worker.returncode} {last}"
            elif fine != "completed":
                outcome = f"worker exited, fine {fine}"
            elif name == "activity_returns_huge" and info.status == "completed":
                outcome = "WORKER STALLED: it recorded the 300 MB result"
            else:
                why = info.task_failure or (failed[0].attrs["failure"] if failed else None)
                outcome = f"worker survived; fine completed; hostile: {why['type'] if why else info.status}"
        elapsed = time.perf_counter() - started
        died += not outcome.startswith("worker survived")
        print(f"  {name:28} {outcome} ({elapsed:.1f} s)")
    return died


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "replaytest", *args],
        cwd=PROBES,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": PATH, **(env or {})},
    )


def database_faults() -> tuple[int, int]:
    """Commands against damaged / foreign / misplaced / locked databases; returns (tracebacks, probes)."""
    import hostile_probe as hostile

    from replaytest.engine import Engine

    tmp = Path(tempfile.mkdtemp())
    good = tmp / "good.db"
    with Engine(good, clock="virtual").register(hostile) as e:
        for n in range(30):
            e.start(hostile.fine, id=f"w{n}")
        e.work()
        e.start(hostile.wait_for_go, id="waiting")
    damaged = tmp / "damaged.db"
    data = bytearray(good.read_bytes())
    for offset in range(4096, len(data), 4096):
        data[offset : offset + 100] = b"\xff" * 100
    damaged.write_bytes(bytes(data))
    foreign = tmp / "crm.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE customers (id)")
    conn.commit()
    conn.close()
    (tmp / "notes.txt").write_text("x")
    commands = [
        ("list",),
        ("show", "w1"),
        ("start", f"{MODULE}:fine", "--id", "new"),
        ("signal", "waiting", "go"),
        ("worker", "--module", MODULE, "--until-idle"),
        ("export", "--all", "-o", str(tmp / "out")),
    ]
    cases = [
        ("damaged", damaged, None),
        ("not ours", foreign, None),
        ("under a file", tmp / "notes.txt" / "e.db", None),
        ("uncreatable", Path("/proc/replaytest-no/e.db"), None),
    ]
    tracebacks = probes = 0
    for label, db, env in cases:
        for command in commands:
            done = cli(*command, "--db", str(db), env=env)
            probes += 1
            tracebacks += "Traceback" in done.stderr
            print(
                f"  {label:13} {command[0]:7} exit {done.returncode}  "
                f"{'TRACEBACK' if 'Traceback' in done.stderr else done.stderr.strip().splitlines()[-1][:90] if done.stderr.strip() else ''}"
            )
    check = sqlite3.connect(foreign)
    tables = sorted(row[0] for row in check.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
    check.close()
    print(f"  the foreign database afterwards has tables {tables}")
    holder = sqlite3.connect(good, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        for command in [("start", f"{MODULE}:fine", "--id", "x"), ("signal", "waiting", "go")]:
            done = cli(*command, "--db", str(good), env={"REPLAYTEST_LOCK_TIMEOUT": "0.3"})  # 30 s without it
            probes += 1
            tracebacks += "Traceback" in done.stderr
            print(
                f"  {'locked':13} {command[0]:7} exit {done.returncode}  "
                f"{'TRACEBACK' if 'Traceback' in done.stderr else done.stderr.strip().splitlines()[-1][:90]}"
            )
    finally:
        holder.rollback()
        holder.close()
    tracebacks_after_surrogate = cli("signal", "waiting", "go", "--payload", '"\\ud800"', "--db", str(good))
    probes += 1
    tracebacks += "Traceback" in tracebacks_after_surrogate.stderr
    return tracebacks, probes


def main() -> None:
    import replaytest

    print(f"replaytest from {Path(replaytest.__file__).parent}")
    died = hostile_workflows()
    print(f"hostile workflows that killed or hung the worker: {died}/{len(HOSTILE)}")
    died = worker_processes()
    print(f"hostile workflows that killed, hung or stalled a worker process: {died}/{len(IN_A_WORKER)}")
    tracebacks, probes = database_faults()
    print(f"database/CLI probes ending in a traceback: {tracebacks}/{probes}")


if __name__ == "__main__":
    main()
