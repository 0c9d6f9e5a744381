"""The engine's SQLite file: event histories plus the task rows derived from them.

The history (``events``) is the source of truth. ``tasks`` are derived state — what is
runnable when: a workflow task to run, an activity to execute, a timer to fire — and every
change to them is made in the same transaction as the events it follows from, so a crash
never leaves an event without its task or a task without its event.

Durability: WAL journal with ``synchronous=FULL``, so a committed history survives a power
cut, and several processes can share one file. Writers take the lock up front
(``BEGIN IMMEDIATE``) so that "find a runnable task and lease it" is atomic across
processes. This module knows SQL, not workflow semantics (see ``transitions.py``).
"""

from __future__ import annotations

import json
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..definitions import ReplaytestError
from ..history import OUTCOME_EVENTS, Event
from .dbfaults import fault, lock_timeout_from_env, of_the_database, prepare_path
from .errors import DatabaseError, EngineError, WorkflowAlreadyRunningError
from .hooks import FaultHooks

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id        TEXT NOT NULL UNIQUE,
    workflow_id   TEXT NOT NULL,
    workflow_type TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
    started_at    TEXT NOT NULL,
    closed_at     TEXT,
    last_event_id INTEGER NOT NULL
);
-- at most one running run per workflow id, even when two processes start it at once
CREATE UNIQUE INDEX IF NOT EXISTS runs_one_running ON runs (workflow_id) WHERE status = 'running';
CREATE INDEX IF NOT EXISTS runs_by_workflow ON runs (workflow_id, seq);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL,
    id     INTEGER NOT NULL,
    time   TEXT NOT NULL,
    type   TEXT NOT NULL,
    attrs  TEXT NOT NULL,
    PRIMARY KEY (run_id, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tasks (
    task_id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT NOT NULL CHECK (kind IN ('workflow', 'activity', 'timer')),
    run_id           TEXT NOT NULL,
    name             TEXT NOT NULL,     -- workflow type, activity type, or timer id
    event_id         INTEGER NOT NULL,  -- its WorkflowTaskScheduled / ActivityTaskScheduled / TimerStarted
    due_ms           INTEGER NOT NULL,  -- engine-clock time when it becomes runnable
    attempt          INTEGER NOT NULL DEFAULT 1,
    started_event_id INTEGER,           -- workflow task: the WorkflowTaskStarted of the current claim
    lease_owner      TEXT,
    lease_expires    REAL,              -- real time (time.time()): leases are about live processes
    last_failure     TEXT               -- JSON failure of the previous attempt
);
-- at most one workflow task per run: outcomes arriving meanwhile wait for the next one
CREATE UNIQUE INDEX IF NOT EXISTS tasks_one_workflow_task ON tasks (run_id) WHERE kind = 'workflow';
CREATE INDEX IF NOT EXISTS tasks_by_due ON tasks (kind, due_ms);
CREATE INDEX IF NOT EXISTS tasks_by_run ON tasks (run_id);
"""


@dataclass
class Run:
    run_id: str
    workflow_id: str
    workflow_type: str
    status: str
    started_at: str
    closed_at: str | None
    last_event_id: int


@dataclass
class Task:
    task_id: int
    kind: str
    run_id: str
    name: str
    event_id: int
    due_ms: int
    attempt: int
    started_event_id: int | None
    lease_owner: str | None
    lease_expires: float | None
    last_failure: dict[str, Any] | None


_RUN_COLS = "run_id, workflow_id, workflow_type, status, started_at, closed_at, last_event_id"
_TASK_COLS = (
    "task_id, kind, run_id, name, event_id, due_ms, attempt, started_event_id, lease_owner, lease_expires, last_failure"
)


def _in_runs(runs: Collection[str] | None, column: str = "run_id") -> tuple[str, list[str]]:
    """The SQL condition (and its parameters) limiting a query to ``runs``; none for None."""
    if runs is None:
        return "", []
    ids = list(runs)
    return f" AND {column} IN ({','.join('?' * len(ids))})", ids


def _file_identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path``, None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _task(row: Sequence[Any]) -> Task:
    t = Task(*row)
    if t.last_failure is not None:
        t.last_failure = json.loads(t.last_failure)  # type: ignore[arg-type]
    return t


_OUR_TABLES = {"meta", "runs", "events", "tasks", "sqlite_sequence"}


class Store:
    """One connection to the engine database, safe to share between threads.

    Every SQLite failure leaves it as a :class:`DatabaseError` naming the file (locked past
    ``lock_timeout``, damaged, read-only, not a replaytest database): a fault of the database,
    never of a workflow."""

    def __init__(self, path: str | Path, lock_timeout: float | None = None) -> None:
        self.path = str(path)
        self.lock_timeout = lock_timeout_from_env() if lock_timeout is None else lock_timeout
        self.initialised_empty = False  # True when this opened a 0-byte file (or an empty SQLite file) and made it ours
        in_memory = self.path == ":memory:" or self.path.startswith("file::memory:")
        if not in_memory:
            prepare_path(self.path)
        self._existed = not in_memory and os.path.exists(self.path)
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                self._open(in_memory)
                break
            except sqlite3.OperationalError as e:
                # Processes opening a new file at once can deadlock switching it to WAL (SQLite
                # then answers "locked" at once, without waiting): start again after a moment.
                if "locked" not in str(e) or time.monotonic() >= deadline:
                    raise self._fault(e) from None
                time.sleep(random.uniform(0.01, 0.05))
            except sqlite3.Error as e:
                raise self._fault(e) from None
        if self.initialised_empty:
            logging.getLogger("replaytest.engine").warning(
                "initialising the empty file %s as a replaytest engine database", self.path
            )
        self._lock = threading.RLock()
        self.faults: FaultHooks | None = None  # sees appends and commits (crash simulation)
        self._check_version()
        self._abspath = os.path.abspath(self.path)  # an activity's os.chdir() must not make it look gone
        self._file = None if in_memory else _file_identity(self._abspath)

    def check_file(self) -> None:
        """Raise DatabaseError if the file this store opened was deleted or replaced: SQLite
        would go on writing into the open, unlinked file, and every event after it would be lost."""
        if self._file is None:
            return
        now = _file_identity(self._abspath)
        if now == self._file:
            return
        what = "deleted" if now is None else "replaced by another file"
        raise DatabaseError(
            f"the engine database {self.path} was {what} while this worker ran; stopping, so that no "
            "event is written where nobody will read it. Restore the file from a backup, or start the "
            "worker (and the workflows) again on a new database"
        )

    def _open(self, in_memory: bool) -> None:
        """Connect, refuse a foreign database, switch to WAL and make sure the schema is there.
        Closes the connection again if any of it fails."""
        conn = self.conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=self.lock_timeout
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.lock_timeout * 1000)}")
            fresh = in_memory or self._refuse_foreign()  # before anything below changes the file
            if not in_memory:
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            if fresh:  # all tables and the version in one transaction: no other process sees half a schema
                conn.executescript(
                    f"BEGIN IMMEDIATE; {_SCHEMA} INSERT OR IGNORE INTO meta VALUES "
                    f"('schema_version', '{SCHEMA_VERSION}'); COMMIT;"
                )
            else:
                conn.executescript(_SCHEMA)  # idempotent: adds what an older file of this version lacks
        except BaseException:
            conn.close()
            raise

    def _refuse_foreign(self) -> bool:
        """Refuse a database that has tables but not ours: never add tables to someone else's
        file or switch it to WAL. An empty file (or SQLite file without tables) is made ours:
        returns True for one with no tables yet."""
        tables = [row[0] for row in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        if not tables:
            self.initialised_empty = self._existed  # a file someone made, empty: say that we use it
            return True
        if "meta" in tables and self.conn.execute("SELECT 1 FROM meta WHERE key = 'schema_version'").fetchone():
            return False
        if "meta" in tables and set(tables) <= _OUR_TABLES:
            return False  # ours, caught while an older version was creating it (its version row comes next)
        shown = ", ".join(sorted(t for t in tables if not t.startswith("sqlite_"))[:6]) or ", ".join(tables)
        raise DatabaseError(
            f"{self.path} is not a replaytest engine database (it has other tables: {shown}); "
            "refusing to change it — pass another --db path"
        )

    def _fault(self, e: sqlite3.Error) -> DatabaseError:
        return fault(self.path, e, self.lock_timeout)

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the database lock from its first statement
        (``BEGIN IMMEDIATE``); re-entrant within one thread."""
        with self._lock:
            if self.conn.in_transaction:
                yield self.conn
                return
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise self._fault(e) from None
            try:
                yield self.conn
            except BaseException as e:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                if of_the_database(e):
                    raise self._fault(e) from None  # type: ignore[arg-type]
                raise  # e.g. DataError (a value too big): the data's fault, for the caller to pin on its workflow
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as e:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise self._fault(e) from None
            if self.faults is not None:
                self.faults.committed()  # may raise WorkerCrash: the worker dies right after this commit

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self.conn.execute(sql, tuple(params)).fetchall()
            except sqlite3.Error as e:
                if of_the_database(e):
                    raise self._fault(e) from None
                raise

    def _check_version(self) -> None:
        version = self.get_meta("schema_version")
        if version is None:
            with self.transaction() as c:
                c.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
            version = self.get_meta("schema_version")
        if version != SCHEMA_VERSION:
            raise ReplaytestError(
                f"{self.path} was created by an engine with database schema {version} (this one uses "
                f"{SCHEMA_VERSION}); export its histories with that version, or use a new --db path"
            )

    # ------------------------------------------------------------------ meta
    def get_meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    # ------------------------------------------------------------------ runs
    def insert_run(self, run: Run) -> None:
        with self.transaction() as c:
            try:
                c.execute(
                    f"INSERT INTO runs ({_RUN_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (run.run_id, run.workflow_id, run.workflow_type, run.status, run.started_at, run.closed_at, 0),
                )
            except sqlite3.IntegrityError as e:
                if "run_id" in str(e):
                    raise EngineError(
                        f"run id {run.run_id!r} already exists in {self.path}; leave run_id to the engine"
                    ) from None
                raise WorkflowAlreadyRunningError(run.workflow_id) from None

    def run(self, run_id: str) -> Run | None:
        rows = self._query(f"SELECT {_RUN_COLS} FROM runs WHERE run_id = ?", (run_id,))
        return Run(*rows[0]) if rows else None

    def latest_run(self, workflow_id: str) -> Run | None:
        rows = self._query(
            f"SELECT {_RUN_COLS} FROM runs WHERE workflow_id = ? ORDER BY seq DESC LIMIT 1", (workflow_id,)
        )
        return Run(*rows[0]) if rows else None

    def runs_of(self, workflow_id: str) -> list[Run]:
        """Every run of ``workflow_id``, oldest first."""
        return [
            Run(*row)
            for row in self._query(f"SELECT {_RUN_COLS} FROM runs WHERE workflow_id = ? ORDER BY seq", (workflow_id,))
        ]

    def latest_runs(self, status: str | None = None) -> list[Run]:
        """The newest run of every workflow id, oldest workflow first."""
        sql = (
            f"SELECT {_RUN_COLS} FROM runs r WHERE seq = (SELECT MAX(seq) FROM runs WHERE workflow_id = r.workflow_id)"
            + (" AND status = ?" if status else "")
            + " ORDER BY seq"
        )
        return [Run(*row) for row in self._query(sql, (status,) if status else ())]

    def close_run(self, run_id: str, status: str, time: str) -> None:
        with self.transaction() as c:
            c.execute("UPDATE runs SET status = ?, closed_at = ? WHERE run_id = ?", (status, time, run_id))
            c.execute("DELETE FROM tasks WHERE run_id = ?", (run_id,))  # pending timers, activities: dropped

    # ------------------------------------------------------------------ events
    def append(self, run_id: str, time: str, items: Sequence[tuple[str, dict[str, Any]]]) -> list[Event]:
        """Append events (type, attrs) at ``time``; ids continue the run's history. A run's
        time never goes back: a ``time`` before its last event's (a real-clock client
        signalling a run a virtual clock moved ahead) is recorded as that event's time."""
        with self.transaction() as c:
            last, last_time = c.execute(
                "SELECT r.last_event_id, e.time FROM runs r LEFT JOIN events e "
                "ON e.run_id = r.run_id AND e.id = r.last_event_id WHERE r.run_id = ?",
                (run_id,),
            ).fetchone()
            if last_time is not None and last_time > time:  # same fixed-width UTC format: compares as text
                time = last_time
            events = [Event(last + i + 1, time, type_, attrs) for i, (type_, attrs) in enumerate(items)]
            c.executemany(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
                [(run_id, e.id, e.time, e.type, json.dumps(e.attrs, ensure_ascii=False)) for e in events],
            )
            c.execute("UPDATE runs SET last_event_id = ? WHERE run_id = ?", (last + len(events), run_id))
            if self.faults is not None:
                self.faults.appended(run_id, events)  # may raise WorkerCrash: rolls this transaction back
            return events

    def events(self, run_id: str, after: int = 0, upto: int | None = None) -> list[Event]:
        rows = self._query(
            "SELECT id, time, type, attrs FROM events WHERE run_id = ? AND id > ? AND id <= ? ORDER BY id",
            (run_id, after, upto if upto is not None else 2**62),
        )
        return [Event(i, t, ty, json.loads(a)) for i, t, ty, a in rows]

    def event(self, run_id: str, event_id: int) -> Event:
        (event,) = self.events(run_id, event_id - 1, event_id)
        return event

    def last_event_time(self, runs: Collection[str] | None = None) -> str | None:
        """Where the timelines of ``runs`` (default: every running run) have got to: the time
        of the newest of their last events."""
        cond, ids = _in_runs(runs, "r.run_id")
        where = "r.status = 'running'" if runs is None else "1"
        rows = self._query(
            "SELECT MAX(e.time) FROM runs r JOIN events e ON e.run_id = r.run_id AND e.id = r.last_event_id"
            f" WHERE {where}{cond}",
            ids,
        )
        return rows[0][0] if rows else None

    def has_outcome_after(self, run_id: str, event_id: int) -> bool:
        marks = ",".join("?" * len(OUTCOME_EVENTS))
        return bool(
            self._query(
                f"SELECT 1 FROM events WHERE run_id = ? AND id > ? AND type IN ({marks}) LIMIT 1",
                (run_id, event_id, *sorted(OUTCOME_EVENTS)),
            )
        )

    # ------------------------------------------------------------------ tasks
    def add_task(
        self,
        kind: str,
        run_id: str,
        name: str,
        event_id: int,
        due_ms: int,
        attempt: int = 1,
        *,
        started_event_id: int | None = None,
        lease_owner: str | None = None,
        lease_expires: float | None = None,
    ) -> int:
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO tasks (kind, run_id, name, event_id, due_ms, attempt, started_event_id, "
                "lease_owner, lease_expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (kind, run_id, name, event_id, due_ms, attempt, started_event_id, lease_owner, lease_expires),
            )
            return int(cur.lastrowid or 0)

    def has_workflow_task(self, run_id: str) -> bool:
        return bool(self._query("SELECT 1 FROM tasks WHERE run_id = ? AND kind = 'workflow'", (run_id,)))

    def task(self, task_id: int) -> Task | None:
        rows = self._query(f"SELECT {_TASK_COLS} FROM tasks WHERE task_id = ?", (task_id,))
        return _task(rows[0]) if rows else None

    def workflow_task_of(self, run_id: str) -> Task | None:
        rows = self._query(f"SELECT {_TASK_COLS} FROM tasks WHERE run_id = ? AND kind = 'workflow'", (run_id,))
        return _task(rows[0]) if rows else None

    def tasks_of(self, run_id: str) -> list[Task]:
        return [
            _task(r)
            for r in self._query(f"SELECT {_TASK_COLS} FROM tasks WHERE run_id = ? ORDER BY task_id", (run_id,))
        ]

    def update_task(self, task_id: int, **fields: Any) -> None:
        if "last_failure" in fields and fields["last_failure"] is not None:
            fields["last_failure"] = json.dumps(fields["last_failure"], ensure_ascii=False)
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.transaction() as c:
            c.execute(f"UPDATE tasks SET {sets} WHERE task_id = ?", (*fields.values(), task_id))

    def delete_task(self, task_id: int) -> None:
        with self.transaction() as c:
            c.execute("DELETE FROM tasks WHERE task_id = ?", (task_id,))

    def lease_first_attempts(
        self, task_ids: Sequence[int], owner: str, real_now: float, lease_seconds: float
    ) -> set[int]:
        """Lease the first attempts among ``task_ids`` that nobody holds; the ids leased."""
        leased = set()
        with self.transaction() as c:
            for task_id in task_ids:
                cur = c.execute(
                    "UPDATE tasks SET lease_owner = ?, lease_expires = ? WHERE task_id = ? AND attempt = 1 "
                    "AND (lease_expires IS NULL OR lease_expires < ?)",
                    (owner, real_now + lease_seconds, task_id, real_now),
                )
                if cur.rowcount == 1:
                    leased.add(task_id)
        return leased

    def due_timers(self, now_ms: int, runs: Collection[str] | None = None) -> list[tuple[int, str, str, int]]:
        """(task id, run id, timer id, TimerStarted event id) of timers due by ``now_ms`` (of
        ``runs``, when given), oldest first."""
        cond, ids = _in_runs(runs)
        with self.transaction() as c:
            rows = c.execute(
                "SELECT task_id, run_id, name, event_id FROM tasks WHERE kind = 'timer' AND due_ms <= ?"
                f"{cond} ORDER BY due_ms, task_id",
                (now_ms, *ids),
            ).fetchall()
        return [tuple(r) for r in rows]

    def find_runnable(
        self, kind: str, names: Iterable[str] | None, now_ms: int, real_now: float, runs: Collection[str] | None = None
    ) -> Task | None:
        """The oldest due task of ``kind`` (of ``runs``, when given) that nobody holds a live
        lease on. Call inside a transaction and lease it there, so two workers never get the same one."""
        cond, ids = _in_runs(runs)
        sql = (
            f"SELECT {_TASK_COLS} FROM tasks WHERE kind = ? AND due_ms <= ? "
            f"AND (lease_expires IS NULL OR lease_expires < ?){cond}"
        )
        params: list[Any] = [kind, now_ms, real_now, *ids]
        if names is not None:
            names = list(names)
            sql += f" AND name IN ({','.join('?' * len(names))})"
            params += names
        rows = self._query(sql + " ORDER BY due_ms, task_id LIMIT 1", params)
        return _task(rows[0]) if rows else None

    def any_runnable(
        self,
        workflow_types: Sequence[str],
        activity_types: Sequence[str],
        now_ms: int,
        real_now: float,
        runs: Collection[str] | None = None,
    ) -> bool:
        """Is any timer due, or a workflow task / activity of these types runnable (of ``runs``,
        when given)? One read instead of one per kind, for the worker's common "nothing to do" turn."""
        wf, act = list(workflow_types), list(activity_types)
        cond, ids = _in_runs(runs)
        sql = (
            "SELECT 1 FROM tasks WHERE due_ms <= ? AND (kind = 'timer' OR ((lease_expires IS NULL OR lease_expires < ?)"
            f" AND ((kind = 'workflow' AND name IN ({','.join('?' * len(wf))}))"
            f" OR (kind = 'activity' AND name IN ({','.join('?' * len(act))}))))){cond} LIMIT 1"
        )
        return bool(self._query(sql, (now_ms, real_now, *wf, *act, *ids)))

    def renew_leases(self, owner: str, task_ids: Iterable[int], expires: float) -> None:
        ids = list(task_ids)
        if ids:
            with self.transaction() as c:
                c.execute(
                    f"UPDATE tasks SET lease_expires = ? WHERE lease_owner = ? AND task_id IN ({','.join('?' * len(ids))})",
                    (expires, owner, *ids),
                )

    def expire_leases(self, owner: str) -> int:
        """End every lease ``owner`` holds (what time does to a dead worker's claims); how many."""
        with self.transaction() as c:
            return c.execute("UPDATE tasks SET lease_expires = 0 WHERE lease_owner = ?", (owner,)).rowcount

    def leased_elsewhere(self, owner: str, real_now: float, runs: Collection[str] | None = None) -> Task | None:
        """A task another live worker holds (whose outcome may make more work), of ``runs`` when given."""
        cond, ids = _in_runs(runs)
        rows = self._query(
            f"SELECT {_TASK_COLS} FROM tasks WHERE lease_expires >= ? AND lease_owner != ?{cond} LIMIT 1",
            (real_now, owner, *ids),
        )
        return _task(rows[0]) if rows else None

    def next_due_task(
        self,
        workflow_types: Iterable[str],
        activity_types: Iterable[str],
        exclude: Iterable[int] = (),
        runs: Collection[str] | None = None,
    ) -> Task | None:
        """The task due first that this worker could run (timers: any worker), of ``runs`` when given."""
        wf, act, ex = list(workflow_types), list(activity_types), list(exclude)
        cond, ids = _in_runs(runs)
        sql = (
            f"SELECT {_TASK_COLS} FROM tasks WHERE (kind = 'timer'"
            f" OR (kind = 'workflow' AND name IN ({','.join('?' * len(wf))}))"
            f" OR (kind = 'activity' AND name IN ({','.join('?' * len(act))})))"
            f" AND task_id NOT IN ({','.join('?' * len(ex))}){cond} ORDER BY due_ms, task_id LIMIT 1"
        )
        rows = self._query(sql, (*wf, *act, *ex, *ids))
        return _task(rows[0]) if rows else None
