"""The engine's database file (engine/store.py): damaged, read-only, foreign, not SQLite, empty,
half created by another process, or write-locked -- each is one clear line naming the file
(or a worker that waits and says so), never a traceback. Real SQLite files, the CLI as a subprocess."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.workflows import hostile
from replaytest.engine import Engine, EngineError
from tests.conftest import ROOT, run_replaytest

MODULE = "fixtures.workflows.hostile"


def one_clear_line(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit 2, no traceback, one error line with ``words`` (a worker logs its start before it)."""
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(errors) == 1, proc.stderr
    assert errors[0].startswith("replaytest: error: ")
    for word in words:
        assert word in errors[0], errors[0]


def engine_db(db: Path, count: int = 30) -> Path:
    """A real engine database with ``count`` finished workflows, checkpointed into one file."""
    with Engine(db, clock="virtual").register(hostile) as e:
        for n in range(count):
            e.start(hostile.fine, id=f"w{n}")
        e.work()
    return db


COMMANDS = [
    ("list",),
    ("show", "w1"),
    ("start", f"{MODULE}:fine", "--id", "new"),
    ("signal", "w1", "go"),
    ("worker", "--module", MODULE, "--until-idle"),
    ("export", "--all", "-o", "out"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_damaged_database_is_one_line_naming_it(db: Path, command: tuple[str, ...], tmp_path: Path) -> None:
    data = bytearray(engine_db(db).read_bytes())
    for offset in range(4096, len(data), 4096):  # keep the header, damage every other page
        data[offset : offset + 100] = b"\xff" * 100
    db.write_bytes(bytes(data))
    args = [a if a != "out" else str(tmp_path / "out") for a in command]
    one_clear_line(run_replaytest(*args, "--db", str(db)), str(db), "damaged")


def test_a_read_only_database_is_one_line_naming_it(db: Path) -> None:
    import os

    engine_db(db, 2)
    with Engine(db).register(hostile) as e:
        e.start(hostile.wait_for_go, id="waiting")  # a workflow task for the worker to claim
    db.chmod(0o444)
    immutable = False
    if os.geteuid() == 0:  # root writes read-only files: make it immutable instead
        immutable = subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode == 0
        if not immutable:
            pytest.skip("running as root without chattr: cannot make a file read-only")
    try:
        assert run_replaytest("list", "--db", str(db)).returncode == 0  # reading is fine
        for command in [COMMANDS[2], ("signal", "waiting", "go"), COMMANDS[4]]:
            one_clear_line(run_replaytest(*command, "--db", str(db)), str(db), "read-only")
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(db)], check=True)


def test_db_under_a_regular_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a directory")
    db = tmp_path / "notes.txt" / "engine.db"
    one_clear_line(run_replaytest("start", f"{MODULE}:fine", "--id", "x", "--db", str(db)), str(db), "not a directory")
    deeper = tmp_path / "notes.txt" / "sub" / "engine.db"
    one_clear_line(run_replaytest("run", f"{MODULE}:fine", "--db", str(deeper)), str(deeper), "not a directory")


def test_db_whose_directory_cannot_be_created_is_one_line() -> None:
    db = "/proc/replaytest-cannot-exist/engine.db"
    one_clear_line(run_replaytest("start", f"{MODULE}:fine", "--id", "x", "--db", db), db, "cannot create")


def test_a_database_that_is_not_ours_is_refused_untouched(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers VALUES (1, 'Ada')")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    for command in [
        ("list",),
        ("start", f"{MODULE}:fine", "--id", "x"),
        ("worker", "--module", MODULE, "--until-idle"),
    ]:
        one_clear_line(
            run_replaytest(*command, "--db", str(other)), str(other), "not a replaytest engine database", "customers"
        )
    assert other.read_bytes() == before  # no tables added, still in rollback-journal mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]
    with pytest.raises(EngineError, match="not a replaytest engine database"):
        Engine(other)


def test_processes_creating_one_database_at_once_all_open_it(tmp_path: Path) -> None:
    """The refusal of foreign databases must not see a database another process is creating."""
    for trial in range(6):
        db = tmp_path / f"race-{trial}" / "engine.db"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", f"from replaytest.engine import Engine; Engine({str(db)!r}).close()"],
                cwd=ROOT,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(5)
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err


def test_a_database_caught_half_created_is_ours(db: Path) -> None:
    """What another process's first open leaves for an instant: our tables, no schema version yet."""
    engine_db(db, 1)
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM meta WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with Engine(db) as e:
        assert e.describe("w0").status == "completed"


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    notes = tmp_path / "notes.db"
    notes.write_text("these are my notes\n" * 100)
    one_clear_line(run_replaytest("list", "--db", str(notes)), str(notes))
    assert notes.read_text() == "these are my notes\n" * 100


def test_an_empty_file_is_initialised_with_a_note(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    proc = run_replaytest("start", f"{MODULE}:fine", "--id", "x", "--db", str(empty))
    assert proc.returncode == 0, proc.stderr
    assert f"initialising the empty file {empty} as a replaytest engine database" in proc.stderr
    assert "Traceback" not in proc.stderr
    again = run_replaytest("list", "--db", str(empty))
    assert again.returncode == 0 and "initialising" not in again.stderr and "x" in again.stdout


LOCKED = {"REPLAYTEST_LOCK_TIMEOUT": "0.2"}


def hold_write_lock(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def test_commands_print_one_line_while_another_process_holds_the_write_lock(db: Path) -> None:
    engine_db(db, 2)
    with Engine(db).register(hostile) as e:
        e.start(hostile.wait_for_go, id="waiting")
    holder = hold_write_lock(db)
    try:
        # (a running worker waits for the lock instead: see the next test)
        for command in [
            ("start", f"{MODULE}:fine", "--id", "x"),
            ("signal", "waiting", "go"),
            ("run", f"{MODULE}:fine", "--id", "y"),
        ]:
            one_clear_line(run_replaytest(*command, "--db", str(db), env=LOCKED), str(db), "locked", "0.2")
    finally:
        holder.rollback()
        holder.close()


def test_a_running_worker_waits_out_a_held_write_lock_and_says_so(db: Path) -> None:
    import os
    import signal as signals
    import time

    with Engine(db).register(hostile) as e:
        e.start(hostile.nap, id="napping")
    worker = subprocess.Popen(
        [sys.executable, "-m", "replaytest", "worker", "--module", MODULE, "--db", str(db)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **LOCKED},
    )
    try:
        with Engine(db) as client:
            deadline = time.monotonic() + 30
            while not any(ev.type == "TimerStarted" for ev in client.history("napping").events):
                assert time.monotonic() < deadline and worker.poll() is None, "the worker did not start"
                time.sleep(0.02)
        holder = hold_write_lock(db)  # the 1 s timer comes due while the lock is held
        time.sleep(2.5)
        assert worker.poll() is None, worker.communicate()[1]
        holder.rollback()
        holder.close()
        with Engine(db) as client:
            deadline = time.monotonic() + 60
            while client.describe("napping").status != "completed":
                assert time.monotonic() < deadline and worker.poll() is None, "the worker did not finish the workflow"
                time.sleep(0.05)
            assert client.get_handle("napping").result() == "woke"
    finally:
        worker.send_signal(signals.SIGTERM)
        _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert "Traceback" not in err
    assert f"the engine database {db} is locked by another process" in err and "retrying in" in err


# ---------------------------------------------------------------- issue 19 item 12: deleted under a worker
def test_deleting_the_database_under_a_running_worker_stops_it_in_one_line(db: Path) -> None:
    """SQLite would go on writing into the unlinked file: the worker notices and stops."""
    import os
    import time

    with Engine(db).register(hostile) as e:
        e.start(hostile.wait_for_go, id="waiting")
    worker = subprocess.Popen(
        [sys.executable, "-m", "replaytest", "worker", "--module", MODULE, "--db", str(db)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with Engine(db) as client:  # closed before the file goes
            deadline = time.monotonic() + 30
            while not any(ev.type == "WorkflowTaskCompleted" for ev in client.history("waiting").events):
                assert time.monotonic() < deadline and worker.poll() is None, "the worker did not start"
                time.sleep(0.02)
        os.remove(db)
        _, err = worker.communicate(timeout=20)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    assert worker.returncode == 2, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"replaytest: error: the engine database {db} was deleted while this worker ran"), err
