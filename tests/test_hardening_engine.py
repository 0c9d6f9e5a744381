"""Issue 14, items 9-13: one workflow's data never takes a worker down, and database faults
are one clear line. Real SQLite files, real worker subprocesses, the public API."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures.workflows import hostile
from replaytest import PayloadError, RetryPolicy
from replaytest.definitions import to_payload
from replaytest.engine import Engine, EngineError
from tests.conftest import ROOT

MODULE = "fixtures.workflows.hostile"
FIXTURE = Path(hostile.__file__)


def line_of(tag: str) -> int:
    """The line of fixtures/workflows/hostile.py marked ``# line: TAG``."""
    for n, text in enumerate(FIXTURE.read_text().splitlines(), 1):
        if text.rstrip().endswith(f"# line: {tag}"):
            return n
    raise AssertionError(tag)


def run_beside_fine(db: Path, workflow: str) -> Engine:
    """Start ``workflow`` and ``fine`` and work until idle: must return, not raise."""
    e = Engine(db, clock="virtual").register(hostile)
    e.start(getattr(hostile, workflow), id="hostile")
    e.start(hostile.fine, id="fine")
    e.work()
    return e


def hostile_task_failure(db: Path, workflow: str) -> tuple[Engine, dict[str, Any]]:
    """``run_beside_fine``: ``fine`` completed, ``hostile`` still running with a failed
    workflow task; the engine and that failure."""
    e = run_beside_fine(db, workflow)
    assert e.describe("fine").status == "completed"
    info = e.describe("hostile")
    assert info.status == "running" and info.task_failure is not None, info
    return e, info.task_failure


# ---------------------------------------------------------------------------- 9: durations
@pytest.mark.parametrize(
    "workflow, words",
    [
        ("sleep_forever", "workflow.sleep duration must be a finite"),
        ("sleep_1e300", "workflow.sleep duration must be at most"),
        ("huge_retry_interval", "initial_interval must be at most"),
        ("huge_timeout", "start_to_close_timeout must be at most"),
        ("nan_backoff", "backoff_coefficient must be a finite number"),
    ],
)
def test_an_impossible_duration_fails_its_workflow_task_at_the_users_line(db: Path, workflow: str, words: str) -> None:
    _, failure = hostile_task_failure(db, workflow)
    assert failure["type"] == "ReplaytestError"
    assert words in failure["message"]
    assert failure["source"]["line"] == line_of(workflow)
    assert failure["source"]["file"].endswith("hostile.py")


def test_sleeping_century_after_century_stops_before_the_year_9999(db: Path) -> None:
    """The virtual clock jumps a century per timer; the timer that would end past the last time a
    history can hold fails its workflow task instead of moving the clock there (and killing
    every worker on the database)."""
    e, failure = hostile_task_failure(db, "centuries")
    assert "after the year 9999" in failure["message"]
    assert failure["source"]["line"] == line_of("centuries")
    assert e.now().year < 9999 and len(e.list()) == 2  # the clock stays usable
    with pytest.raises(EngineError, match="year 9999"):
        e.sleep(hostile.CENTURY)


def test_an_activity_retried_century_after_century_fails_for_good_before_the_year_9999(db: Path) -> None:
    e = run_beside_fine(db, "retries_for_centuries")
    history = e.history("hostile")
    assert e.describe("fine").status == "completed" and history.status == "failed"
    (failed,) = [ev for ev in history.events if ev.type == "ActivityTaskFailed"]
    assert "not retried: the next attempt would be due after the year 9999" in failed.attrs["failure"]["message"]


def test_sys_exit_in_workflow_code_fails_its_task_not_the_worker(db: Path) -> None:
    _, failure = hostile_task_failure(db, "exits")
    assert failure["type"] == "SystemExit"
    assert "a workflow cannot stop the worker" in failure["message"]
    assert failure["source"]["line"] == line_of("exits")


def test_sys_exit_in_workflow_code_does_not_end_a_replay_run(db: Path, tmp_path: Path) -> None:
    with Engine(db, clock="virtual").register(hostile) as e:
        e.start(hostile.exits_on, 0, id="a-exits").result()
        e.start(hostile.exits_on, 0, id="b-fine").result()
        doc = e.history("a-exits").to_dict()
        e.history("b-fine").save(tmp_path / "h" / "b-fine.json")
    doc["events"][0]["attrs"]["input"] = [3]  # the same history, but now the code calls sys.exit(3)
    (tmp_path / "h" / "a-exits.json").write_text(json.dumps(doc))
    proc = replaytest("replay", str(tmp_path / "h"), "--module", MODULE)
    assert proc.returncode == 1, proc.stderr
    assert "2 histories replayed: 1 ok, 1 failed" in proc.stdout
    assert "SystemExit" in proc.stdout and f"hostile.py:{line_of('exits_on')}" in proc.stdout


def test_retry_delay_never_overflows_however_many_attempts() -> None:
    assert RetryPolicy().delay(5000) == 100.0
    assert RetryPolicy(initial_interval=0.5, backoff_coefficient=3, maximum_interval=7).delay(10**6) == 7.0
    assert RetryPolicy(backoff_coefficient=1.0).delay(10**6) == 1.0


NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**400), st.timedeltas().map(lambda d: d)
)


@settings(max_examples=300, deadline=None)
@given(
    initial=NUMBERS, coefficient=NUMBERS, cap=NUMBERS, attempts=st.integers(-3, 10**4), attempt=st.integers(1, 10**7)
)
def test_a_retry_policy_is_refused_where_it_is_made_or_its_delays_are_storable(
    initial, coefficient, cap, attempts, attempt
) -> None:  # type: ignore[no-untyped-def]
    """Any RetryPolicy either fails ``to_dict`` (where ``execute_activity`` issues it: the user's
    line) with a ReplaytestError, or gives a finite delay in [0, maximum_interval] for every attempt."""
    from replaytest import ReplaytestError

    policy = RetryPolicy(
        initial_interval=initial, backoff_coefficient=coefficient, maximum_interval=cap, maximum_attempts=attempts
    )
    try:
        d = policy.to_dict()
    except ReplaytestError:
        return
    delay = policy.delay(attempt)
    assert 0 <= delay <= max(d["maximum_interval"], 0) or delay == 0
    assert delay * 1000 < 2**62  # a due time SQLite can store


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.text(st.characters(codec=None, exclude_categories=())) | st.integers() | st.floats(),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(st.characters(exclude_categories=()), max_size=3), inner, max_size=3)
        ),
        max_leaves=8,
    )
)
def test_a_payload_is_refused_where_it_is_passed_or_storable_as_utf8(value) -> None:  # type: ignore[no-untyped-def]
    try:
        stored = to_payload(value, "the value")
    except PayloadError:
        return
    json.dumps(stored, ensure_ascii=False).encode("utf-8")


def test_a_worker_process_survives_an_infinite_sleep_and_runs_the_others(db: Path) -> None:
    client = Engine(db).register(hostile)
    client.start(hostile.sleep_forever, id="hostile")
    client.start(hostile.fine, id="fine")
    client.close()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "replaytest",
            "worker",
            "--module",
            MODULE,
            "--db",
            str(db),
            "--virtual-clock",
            "--until-idle",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert (
        "hostile: workflow task failed (attempt 1): ReplaytestError: workflow.sleep duration must be a finite"
        in proc.stderr
    )
    assert f"hostile.py:{line_of('sleep_forever')}" in proc.stderr
    with Engine(db) as e:
        assert e.describe("fine").status == "completed"


# ---------------------------------------------------------------------------- 9/13: text SQLite cannot store
@pytest.mark.parametrize(
    "workflow, words",
    [
        ("returns_surrogate_value", "lone surrogate"),
        ("raises_surrogate", "bad input \\ud800"),
        ("surrogate_patch_id", "could not record"),
    ],
)
def test_text_that_is_not_unicode_fails_only_its_workflow(db: Path, workflow: str, words: str) -> None:
    e, failure = hostile_task_failure(db, workflow)
    assert words in failure["message"]
    json.dumps(e.history("hostile").to_dict(), ensure_ascii=False).encode("utf-8")  # the history stays exportable


def test_a_value_too_big_for_sqlite_fails_only_its_workflow(db: Path) -> None:
    """SQLite refuses values over its length limit (1 GB by default; 10 kB here): DataError is
    the value's fault, not the database's, so only that workflow's task fails."""
    e = Engine(db, clock="virtual").register(hostile)
    e.store.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 10_000)
    e.start(hostile.returns_big, id="hostile")
    e.start(hostile.fine, id="fine")
    e.work()
    assert e.describe("fine").status == "completed"
    info = e.describe("hostile")
    assert info.task_failure is not None and info.task_failure["type"] == "DataError"
    assert (
        "could not record this workflow task's commands (WorkflowExecutionCompleted result="
        in info.task_failure["message"]
    )


def test_an_activity_result_too_big_for_sqlite_fails_that_activity(db: Path) -> None:
    e = Engine(db, clock="virtual").register(hostile)
    e.store.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 10_000)
    e.start(hostile.activity_returns_big, id="hostile")
    e.start(hostile.fine, id="fine")
    e.work()
    assert e.describe("fine").status == "completed"
    assert e.get_handle("hostile").result() == "caught DataError"
    (failed,) = [ev for ev in e.history("hostile").events if ev.type == "ActivityTaskFailed"]
    assert "the engine could not record attempt 1 of activity big" in failed.attrs["failure"]["message"]


def test_an_activity_result_that_is_not_unicode_fails_the_activity_not_the_worker(db: Path) -> None:
    e = run_beside_fine(db, "activity_returns_surrogate")
    assert e.describe("fine").status == "completed"
    history = e.history("hostile")
    failed = [ev for ev in history.events if ev.type == "ActivityTaskFailed"]
    assert failed and failed[0].attrs["failure"]["type"] == "PayloadError"
    assert "lone surrogate" in failed[0].attrs["failure"]["message"]


def test_an_activity_exception_whose_str_raises_still_fails_the_attempt(db: Path) -> None:
    """Before, the pool thread died describing it: the attempt never reported back and
    ``work()`` waited for it forever."""
    import threading

    e = Engine(db, clock="virtual").register(hostile)
    e.start(hostile.activity_raises_unprintable, id="hostile")
    e.start(hostile.fine, id="fine")
    worker = threading.Thread(target=e.work, daemon=True)
    worker.start()
    worker.join(timeout=60)  # a deadlock detector, not a timing assertion: it takes well under a second
    assert not worker.is_alive(), "work() is still waiting for an attempt that will never report back"
    assert e.describe("fine").status == "completed"
    assert e.get_handle("hostile").result() == "caught Unprintable: <its __str__ raised RuntimeError>"


def test_a_signal_payload_that_is_not_unicode_is_refused(db: Path) -> None:
    e = Engine(db, clock="virtual").register(hostile)
    e.start(hostile.wait_for_go, id="w")
    with pytest.raises(PayloadError, match="lone surrogate"):
        e.signal("w", "go", {"text": "\ud800"})
    with pytest.raises(EngineError, match="signal name"):
        e.signal("w", "go\udcff", 1)
    with pytest.raises(EngineError, match="workflow id"):
        e.start(hostile.fine, id="id-\ud800")
    e.signal("w", "go", "still works")
    assert e.get_handle("w").result() == "still works"


@pytest.mark.parametrize(
    "command",
    [
        ("signal", "x\udcff", "go"),
        ("show", "x\udcff"),
        ("export", "x\udcff", "-o", "out"),
        ("signal", "w", "go\udcff"),
        ("start", f"{MODULE}:fine", "--id", "x\udcff"),
    ],
    ids=["signal-id", "show", "export", "signal-name", "start"],
)
def test_ids_from_bytes_that_are_not_utf8_are_one_line(cli, db: Path, command: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    """A shell passes arbitrary bytes; Python decodes b"x\xff" as "x\udcff" (surrogateescape)."""
    assert cli("start", f"{MODULE}:wait_for_go", "--id", "w").returncode == 0
    proc = cli(*command)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "is not valid Unicode" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_cli_signal_with_a_lone_surrogate_is_one_line(cli, db: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("start", f"{MODULE}:wait_for_go", "--id", "w").returncode == 0
    proc = cli("signal", "w", "go", "--payload", '{"text": "\\ud800"}')
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "lone surrogate" in proc.stderr and "--payload" in proc.stderr


# ---------------------------------------------------------------------------- 10/11: database faults
def replaytest(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "replaytest", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


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
    one_clear_line(replaytest(*args, "--db", str(db)), str(db), "damaged")


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
        assert replaytest("list", "--db", str(db)).returncode == 0  # reading is fine
        for command in [COMMANDS[2], ("signal", "waiting", "go"), COMMANDS[4]]:
            one_clear_line(replaytest(*command, "--db", str(db)), str(db), "read-only")
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(db)], check=True)


def test_db_under_a_regular_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a directory")
    db = tmp_path / "notes.txt" / "engine.db"
    one_clear_line(replaytest("start", f"{MODULE}:fine", "--id", "x", "--db", str(db)), str(db), "not a directory")
    deeper = tmp_path / "notes.txt" / "sub" / "engine.db"
    one_clear_line(replaytest("run", f"{MODULE}:fine", "--db", str(deeper)), str(deeper), "not a directory")


def test_db_whose_directory_cannot_be_created_is_one_line() -> None:
    db = "/proc/replaytest-cannot-exist/engine.db"
    one_clear_line(replaytest("start", f"{MODULE}:fine", "--id", "x", "--db", db), db, "cannot create")


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
            replaytest(*command, "--db", str(other)), str(other), "not a replaytest engine database", "customers"
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
    one_clear_line(replaytest("list", "--db", str(notes)), str(notes))
    assert notes.read_text() == "these are my notes\n" * 100


def test_an_empty_file_is_initialised_with_a_note(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    proc = replaytest("start", f"{MODULE}:fine", "--id", "x", "--db", str(empty))
    assert proc.returncode == 0, proc.stderr
    assert f"initialising the empty file {empty} as a replaytest engine database" in proc.stderr
    assert "Traceback" not in proc.stderr
    again = replaytest("list", "--db", str(empty))
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
            one_clear_line(replaytest(*command, "--db", str(db), env=LOCKED), str(db), "locked", "0.2")
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


# ---------------------------------------------------------------------------- 12: export file names
def test_export_all_gives_every_id_its_own_reversible_file(db: Path, tmp_path: Path) -> None:
    import urllib.parse

    from replaytest import History

    ids = ["a/b", "a_b", "a:b", "a%2Fb", "../up", ".", "..", ".hidden", "x" * 300, "x" * 300 + "y", "é ü/\\*?"]
    with Engine(db, clock="virtual").register(hostile) as e:
        for workflow_id in ids:
            e.start(hostile.fine, id=workflow_id)
        e.work()
    out = tmp_path / "out"
    proc = replaytest("export", "--all", "-o", str(out), "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    files = sorted(out.iterdir())
    assert len(files) == len(ids) and all(f.parent == out for f in files)  # nothing lost, nothing outside
    assert sorted(History.load(f).workflow_id for f in files) == sorted(ids)
    for f in files:
        name = f.name[: -len(".json")]
        if len(name) < 180:  # short names are the id, percent-encoded
            assert urllib.parse.unquote(name) == History.load(f).workflow_id
        assert not name.startswith(".")
