"""Tests for replaytest.sandbox: logical time, seeded randomness, flagged I/O, restoration."""

from __future__ import annotations

import asyncio
import datetime
import http.client
import linecache
import os
import pickle
import random
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import traceback
import types
import uuid
import zoneinfo
from pathlib import Path
from typing import Any

import freezegun
import pytest
from freezegun import api

from replaytest import sandbox as sb
from replaytest.sandbox import SandboxViolation, audit, clock, randomness

UTC = datetime.UTC
NOW = datetime.datetime(2001, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)
NAIVE = NOW.replace(tzinfo=None)
NOW_TS = NOW.timestamp()
ROOT = Path(sb.__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def nothing_left_installed():
    yield
    assert sb.idle()
    assert datetime.datetime is api.real_datetime and time.time is api.real_time


def step(rng: random.Random | None = None, **kw):
    return sb.workflow_code(NOW, rng or random.Random(0), **kw)


def make_module(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(textwrap.dedent(source), module.__dict__)
    sys.modules[name] = module
    return module


def real_now_utc() -> datetime.datetime:
    return api.real_datetime.now(UTC)


# ---------------------------------------------------------------------------------------- time
def test_time_functions_return_logical_now():
    local = NAIVE - datetime.timedelta(seconds=time.timezone)  # freezegun's localtime() rule
    with step():
        assert datetime.datetime.now() == NAIVE
        assert datetime.datetime.now(UTC) == NOW
        ny = datetime.datetime.now(zoneinfo.ZoneInfo.no_cache("America/New_York"))  # reads tz data: allowed
        assert ny == NOW and ny.utcoffset() == datetime.timedelta(hours=-5)
        assert datetime.datetime.utcnow() == NAIVE
        assert datetime.datetime.today() == NAIVE
        assert datetime.date.today() == datetime.date(2001, 2, 3)
        assert time.time() == pytest.approx(NOW_TS, abs=1e-6)
        assert time.time_ns() == pytest.approx(NOW_TS * 1e9, abs=1e3)
        assert tuple(time.gmtime())[:6] == (2001, 2, 3, 4, 5, 6)
        assert tuple(time.localtime())[:6] == local.timetuple()[:6]
        assert time.strftime("%Y-%m-%d %H:%M:%S") == local.strftime("%Y-%m-%d %H:%M:%S")


def test_now_in_another_timezone_is_converted_to_utc():
    with sb.workflow_code(NOW.astimezone(zoneinfo.ZoneInfo("Asia/Tokyo")), random.Random(0)):
        assert datetime.datetime.now(UTC) == NOW and datetime.datetime.utcnow() == NAIVE


def test_time_is_real_inside_session_outside_workflow_code():
    with sb.session():
        assert datetime.datetime is api.FakeDatetime  # the session is really installed
        with step():
            pass
        assert abs(datetime.datetime.now(UTC) - real_now_utc()) < datetime.timedelta(seconds=5)
        assert abs(datetime.datetime.now() - api.real_datetime.now()) < datetime.timedelta(seconds=5)
        assert abs(datetime.datetime.utcnow() - real_now_utc().replace(tzinfo=None)) < datetime.timedelta(seconds=5)
        assert datetime.date.today() == api.real_date.today()
        assert abs(time.time() - api.real_time()) < 5
        assert time.gmtime().tm_year == real_now_utc().year


@pytest.fixture
def bindings():
    """A module that bound names with `from ... import` before any session started."""
    module = make_module(
        "sandbox_bindings_probe",
        """
        from datetime import datetime, date
        from time import time, time_ns, monotonic, perf_counter
        from random import random
    """,
    )
    yield module
    del sys.modules[module.__name__]


def test_from_import_bindings_made_before_the_session(bindings):
    with sb.session():
        with step(random.Random(7)):
            assert bindings.datetime.now() == NAIVE
            assert bindings.date.today() == datetime.date(2001, 2, 3)
            assert bindings.time() == pytest.approx(NOW_TS, abs=1e-6)
            assert bindings.time_ns() == pytest.approx(NOW_TS * 1e9, abs=1e3)
            assert bindings.random() == random.Random(7).random()
        assert bindings.monotonic is api.real_monotonic and bindings.perf_counter is api.real_perf_counter
        assert abs(bindings.time() - api.real_time()) < 5
    assert bindings.datetime is api.real_datetime and bindings.time is api.real_time


def test_monotonic_clocks_stay_real_and_advance_inside_workflow_code():
    with step():
        for name in ("monotonic", "perf_counter", "monotonic_ns", "perf_counter_ns"):
            assert getattr(time, name) is getattr(api, "real_" + name)
        m0, p0, n0 = time.monotonic(), time.perf_counter(), time.monotonic_ns()
        while time.perf_counter() - p0 < 0.01:
            pass
        assert time.monotonic() - m0 >= 0.009 and time.monotonic_ns() > n0
        assert datetime.datetime.now() == NAIVE  # ...while the wall clock stands still


def test_another_thread_gets_real_time_while_main_thread_is_in_workflow_code(tmp_path: Path):
    go, done = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def worker():
        go.wait(10)
        try:
            seen["active"] = sb.active()
            seen["now"] = datetime.datetime.now(UTC)
            seen["naive"] = datetime.datetime.now()
            seen["time"] = time.time()
            seen["today"] = datetime.date.today()
            (tmp_path / "t.txt").write_text("x")  # I/O in other threads is never flagged
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
            seen["env"] = os.environ.get("PATH")
            time.sleep(0.001)
            seen["urandom"] = os.urandom(8)
        except BaseException as exc:  # pragma: no cover - reported below
            seen["error"] = exc
        done.set()

    thread = threading.Thread(target=worker)
    thread.start()
    with step(random.Random(3)):
        go.set()
        assert done.wait(10)
        assert datetime.datetime.now() == NAIVE
    thread.join(10)
    assert "error" not in seen, seen.get("error")
    assert seen["active"] is False
    assert abs(seen["now"] - real_now_utc()) < datetime.timedelta(seconds=10)
    assert seen["naive"].year != 2001 and abs(seen["time"] - api.real_time()) < 10
    assert seen["today"] == api.real_date.today()
    assert seen["urandom"] != random.Random(3).randbytes(8)


def test_debugger_code_on_the_workflow_thread_keeps_real_time_and_is_not_flagged(tmp_path: Path):
    probe = make_module(
        "pydevd_sandbox_probe",
        """
        import datetime, time
        def clock(): return time.time(), datetime.datetime.now()
        def read(path):
            with open(path, 'w') as f: f.write('x')
    """,
    )
    try:
        with step():
            wall, now = probe.clock()
            probe.read(tmp_path / "dbg.txt")
            assert time.time() == pytest.approx(NOW_TS, abs=1e-6)
        assert abs(wall - api.real_time()) < 5 and now.year != 2001
    finally:
        del sys.modules[probe.__name__]


def test_debugger_frames_outside_the_workflow_code_block_do_not_exempt(tmp_path: Path):
    launcher = make_module("debugpy_launcher_probe", "def run(fn): return fn()")

    def program():
        with step():
            open(tmp_path / "x", "w")

    try:
        with pytest.raises(SandboxViolation):
            launcher.run(program)
    finally:
        del sys.modules[launcher.__name__]


def test_asyncio_and_wait_for_work_in_a_session(tmp_path: Path):
    async def main():
        start = time.perf_counter()
        with step():
            assert datetime.datetime.now() == NAIVE
        await asyncio.wait_for(asyncio.sleep(0.05), 1)
        return time.perf_counter() - start

    def timeout(*_):
        raise TimeoutError("asyncio hung inside sandbox.session()")

    old = signal.signal(signal.SIGALRM, timeout)
    signal.setitimer(signal.ITIMER_REAL, 10)
    try:
        with sb.session():
            elapsed = asyncio.run(main())
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert 0.045 <= elapsed < 1


def test_pytest_durations_are_real_while_a_session_is_open(tmp_path: Path):
    (tmp_path / "test_inner.py").write_text(
        textwrap.dedent("""
        import datetime, random, time, pytest
        from replaytest import sandbox as sb

        @pytest.fixture
        def sandbox_session():
            with sb.session():
                yield

        def test_slow(sandbox_session):
            with sb.workflow_code(datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc), random.Random(0)):
                pass
            time.sleep(0.3)
    """)
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--durations=0",
            "--durations-min=0",
            "test_inner.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = result.stdout
    assert "1 passed" in out, (out, result.stderr)
    timing = re.search(r"([\d.]+)s call", out)
    assert timing, out
    call = float(timing.group(1))
    assert 0.29 <= call < 5, out


# ----------------------------------------------------------------------------------- randomness
@pytest.fixture(params=["fast", "slow"])
def copier(request, monkeypatch):
    """Run randomness tests with the byte-copy state transfer and with getstate()/setstate()."""
    if request.param == "slow":
        monkeypatch.setattr(randomness, "copy_state", randomness.slow_copy)
    else:
        assert randomness.copy_state is not randomness.slow_copy  # CPython: the fast path is the one in use


def test_fast_state_copy_matches_getstate():
    src, dst = random.Random(31), random.Random(32)
    src.gauss(0, 1)
    randomness.copy_state(src, dst)
    assert dst.getstate() == src.getstate()
    assert [dst.random() for _ in range(700)] == [src.random() for _ in range(700)]


def test_a_random_subclass_works_as_the_workflow_generator():
    class MyRandom(random.Random):
        pass

    rng = MyRandom(8)
    with step(rng):
        got = random.random()
    ref = random.Random(8)
    assert got == ref.random() and rng.random() == ref.random()  # the draw was written back


@pytest.mark.usefixtures("copier")
def test_random_module_draws_from_the_workflow_generator_and_is_restored():
    random.seed(12345)
    outside = random.getstate()
    rng, ref = random.Random(7), random.Random(7)
    with step(rng):
        got = [random.random(), random.randint(1, 10**9), random.choice(range(1000))]
        items = list(range(20))
        random.shuffle(items)
    expected_items = list(range(20))
    assert got == [ref.random(), ref.randint(1, 10**9), ref.choice(range(1000))]
    ref.shuffle(expected_items)
    assert items == expected_items
    assert rng.getstate() == ref.getstate()  # written back into the workflow's generator
    assert random.getstate() == outside  # the process's stream is untouched


@pytest.mark.usefixtures("copier")
def test_steps_continue_one_stream():
    rng = random.Random(11)
    with step(rng):
        first = random.random()
    with step(rng):
        second = random.random()
    ref = random.Random(11)
    assert [first, second] == [ref.random(), ref.random()]


def _entropy(seed: int):
    with step(random.Random(seed)):
        return (
            os.urandom(8),
            uuid.uuid4(),
            secrets.token_hex(8),
            secrets.token_bytes(4),
            secrets.randbelow(10**9),
            random.SystemRandom().random(),
            random._urandom(3),  # type: ignore[attr-defined]
        )


@pytest.mark.usefixtures("copier")
def test_os_urandom_uuid4_secrets_and_system_random_are_seeded():
    a, b, c = _entropy(5), _entropy(5), _entropy(6)
    assert a == b and a != c
    assert a[0] == random.Random(5).randbytes(8)
    with sb.session():
        random.seed(5)
        assert os.urandom(8) != random.Random(5).randbytes(8)  # outside: real entropy


# ----------------------------------------------------------------------------------- flagging
@pytest.fixture
def server():
    with socket.create_server(("127.0.0.1", 0)) as srv:
        yield srv.getsockname()[1]


def _connect(port):
    with socket.socket() as s:
        s.connect(("127.0.0.1", port))


def _bind(_port):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))


FLAGGED = {
    "socket.connect": _connect,
    "socket.bind": _bind,
    "socket.getaddrinfo": lambda port: socket.getaddrinfo("localhost", port),
    "http.client.connect": lambda port: http.client.HTTPConnection("127.0.0.1", port, timeout=2).connect(),
    "subprocess.Popen": lambda _: subprocess.run(["true"]),
    "os.system": lambda _: os.system("true"),
    "os.posix_spawn": lambda _: os.waitpid(os.posix_spawn("/bin/true", ["true"], {}), 0),
    "sqlite3.connect": lambda _: sqlite3.connect(":memory:"),
    "time.sleep": lambda _: time.sleep(0),
    "os.environ['HOME']": lambda _: os.environ["HOME"],
}


@pytest.mark.parametrize("call", FLAGGED)
def test_strict_mode_raises_at_the_call(call, server):
    with pytest.raises(SandboxViolation) as info:
        with step():
            FLAGGED[call](server)
    assert info.value.call == call
    assert info.value.filename == __file__


@pytest.mark.parametrize(
    "read", [lambda: os.environ.get("HOME"), lambda: os.getenv("HOME"), lambda: "HOME" in os.environ]
)
def test_every_environment_read_style_is_flagged(read):
    with pytest.raises(SandboxViolation, match=re.escape("os.environ['HOME']")) as info:
        with step():
            read()
    assert info.value.filename == __file__  # past os/_collections_abc frames


def test_opening_a_file_is_blocked_and_names_the_workflow_line(tmp_path: Path):
    target = tmp_path / "new.txt"
    with pytest.raises(SandboxViolation) as info:
        with step():
            line = sys._getframe().f_lineno + 1
            open(str(target), "w")
    v = info.value
    assert v.call == f"open({str(target)!r}, 'w')"
    assert (v.filename, v.lineno) == (__file__, line)
    assert f" at {__file__.removeprefix(os.path.join(os.getcwd(), ''))}:{line} — " in str(v)
    assert f"test_sandbox.py:{line}" in str(v)
    assert str(v).startswith(f"workflow code called open({str(target)!r}, 'w') at ")
    assert "workflows must be deterministic" in str(v) and "sandbox_unrestricted()" in str(v)
    assert not target.exists()  # the operation was aborted


def test_a_caught_violation_leaves_the_block_sandboxed(tmp_path: Path):
    with step():
        with pytest.raises(SandboxViolation):
            open(tmp_path / "a", "w")
        assert sb.active() and datetime.datetime.now() == NAIVE
        with pytest.raises(SandboxViolation):
            time.sleep(0)


def test_filesystem_operations_are_flagged(tmp_path: Path):
    (tmp_path / "a").write_text("a")
    for call, action in [
        ("os.listdir", lambda: os.listdir(tmp_path)),
        ("os.scandir", lambda: os.scandir(tmp_path)),
        ("os.remove", lambda: os.remove(tmp_path / "a")),
        ("os.rename", lambda: os.rename(tmp_path / "a", tmp_path / "b")),
    ]:
        with pytest.raises(SandboxViolation) as info:
            with step():
                action()
        assert info.value.call == call
    assert os.listdir(tmp_path) == ["a"]


def test_thread_start_is_flagged_and_the_thread_does_not_run():
    ran = threading.Event()
    thread = threading.Thread(target=ran.set)
    with pytest.raises(SandboxViolation, match=r"threading\.Thread\.start"):
        with step():
            thread.start()
    assert not ran.wait(0.05)


def test_violation_in_a_coroutine_points_at_the_workflow_line_not_the_driver(tmp_path: Path):
    async def workflow():
        await asyncio.sleep(0)
        open(tmp_path / "x", "w")  # the offending line

    line = workflow.__code__.co_firstlineno + 2
    coro = workflow()

    def run_step(value=None):  # what the runtime does: one synchronous step
        with step():
            return coro.send(value)

    run_step()
    with pytest.raises(SandboxViolation) as info:
        run_step()
    assert info.value.lineno == line


def test_fork_and_exec_are_blocked():
    script = textwrap.dedent("""
        import datetime, os, random
        from replaytest import sandbox as sb
        NOW = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)
        for name, call in [("os.fork", os.fork), ("os.exec", lambda: os.execv("/bin/echo", ["echo", "EXECUTED"]))]:
            try:
                with sb.workflow_code(NOW, random.Random(0)):
                    pid = call()
            except sb.SandboxViolation as e:
                print("BLOCKED", e.call, flush=True)
            else:
                if pid == 0:
                    os._exit(0)
                print("NOT BLOCKED", name, flush=True)
    """)
    out = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.split("\n") == ["BLOCKED os.fork", "BLOCKED os.exec", ""], out


def test_os_exit_and_abort_in_workflow_code_are_refused_even_in_warn_mode():
    """Going on would end the worker or the replay run (issue 19, item 10); only `off` lets them through."""
    script = textwrap.dedent("""
        import datetime, os, random
        from replaytest import sandbox as sb
        NOW = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)
        with sb.session():
            for mode in ("strict", "warn"):
                for name, call in [("os._exit", lambda: os._exit(5)), ("os.abort", os.abort)]:
                    try:
                        with sb.workflow_code(NOW, random.Random(0), mode=mode, on_violation=print):
                            call()
                    except sb.SandboxViolation as e:
                        print("REFUSED", mode, e.call, flush=True)
            with sb.workflow_code(NOW, random.Random(0), mode="off"):
                os._exit(7)
    """)
    out = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 7, out
    assert out.stdout.splitlines() == [
        "REFUSED strict os._exit",
        "REFUSED strict os.abort",
        "REFUSED warn os._exit",
        "REFUSED warn os.abort",
    ], out


def test_first_time_import_inside_workflow_code_is_not_flagged(tmp_path: Path, monkeypatch):
    name = f"sandbox_lazy_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with step():
            module = __import__(name)
            with pytest.raises(SandboxViolation):  # ...while the workflow's own open still is
                open(tmp_path / f"{name}.py")
        assert module.VALUE == 42
    finally:
        sys.modules.pop(name, None)


def test_linecache_and_traceback_formatting_are_not_flagged():
    linecache.clearcache()
    with step():
        try:
            _ = 1 / 0
        except ZeroDivisionError:
            text = traceback.format_exc()
        assert linecache.getline(__file__, 1).startswith('"""Tests for replaytest.sandbox')
    assert "_ = 1 / 0" in text


def test_warn_mode_reports_and_proceeds(tmp_path: Path):
    seen = []
    states = []
    target = tmp_path / "w.txt"

    def on_violation(v):
        seen.append(v)
        states.append((sb.active(), datetime.datetime.now().year))

    with step(mode="warn", on_violation=on_violation):
        with open(target, "w") as f:
            f.write("x")
        time.sleep(0)
        os.getenv("HOME")
        assert sb.active()
    assert target.read_text() == "x"
    assert [v.call for v in seen] == [f"open({str(target)!r}, 'w')", "time.sleep", "os.environ['HOME']"]
    assert all(v.filename == __file__ for v in seen)
    assert states[0] == (False, real_now_utc().year)  # the handler itself runs unsandboxed


def test_warn_mode_without_a_callback_warns(tmp_path: Path):
    with pytest.warns(RuntimeWarning, match="workflow code called open"):
        with step(mode="warn"):
            open(tmp_path / "w.txt", "w").close()


def test_off_mode_flags_nothing_but_stays_deterministic(tmp_path: Path):
    seen: list[str] = []
    with step(random.Random(4), mode="off", on_violation=seen.append):
        open(tmp_path / "o.txt", "w").close()
        os.getenv("HOME")
        assert datetime.datetime.now() == NAIVE and random.random() == random.Random(4).random()
    assert seen == [] and (tmp_path / "o.txt").exists()


def test_unrestricted_allows_io_and_real_time_keeps_randomness_seeded(tmp_path: Path):
    ref = random.Random(9)
    with step(random.Random(9)):
        assert sb.active()
        with sb.unrestricted():
            assert not sb.active()
            with open(tmp_path / "u.txt", "w") as f:
                f.write("ok")
            os.getenv("HOME")
            assert abs(datetime.datetime.now(UTC) - real_now_utc()) < datetime.timedelta(seconds=5)
            assert random.random() == ref.random()
            assert os.urandom(4) == ref.randbytes(4)
        assert sb.active() and datetime.datetime.now() == NAIVE
        with pytest.raises(SandboxViolation):
            open(tmp_path / "u.txt")
    assert not sb.active()
    with sb.unrestricted():  # outside workflow code: a no-op
        assert not sb.active()


# ------------------------------------------------------------------------- nesting, lifecycle
@pytest.mark.usefixtures("copier")
def test_nested_workflow_code_blocks():
    later = NOW + datetime.timedelta(days=1)
    rng = random.Random(21)
    ref = random.Random(21)
    other = random.Random(99)
    with step(rng):
        a = random.random()
        with sb.workflow_code(later, rng):
            assert datetime.datetime.now(UTC) == later
            b = random.random()
            with sb.workflow_code(later, other):
                assert random.random() == random.Random(99).random()
        assert datetime.datetime.now(UTC) == NOW
        c = random.random()
    assert [a, b, c] == [ref.random(), ref.random(), ref.random()]


def test_nested_sessions_start_freezegun_once(monkeypatch: pytest.MonkeyPatch) -> None:
    starts: list[int] = []
    real_start = api._freeze_time.start

    def counting_start(self: Any) -> Any:
        starts.append(1)
        return real_start(self)

    monkeypatch.setattr(api._freeze_time, "start", counting_start)
    with sb.session():
        with sb.session():
            for _ in range(200):
                with step():
                    datetime.datetime.now()
        assert datetime.datetime is api.FakeDatetime  # inner exit did not uninstall
    assert starts == [1]


def _snapshot():
    return {
        "datetime": datetime.datetime,
        "date": datetime.date,
        **{
            n: getattr(time, n)
            for n in ("time", "time_ns", "gmtime", "localtime", "strftime", "monotonic", "perf_counter", "sleep")
        },
        "urandom": os.urandom,
        "_urandom": random._urandom,  # type: ignore[attr-defined]
        "start": threading.Thread.__dict__["start"],
        "getitem": os._Environ.__dict__["__getitem__"],
        "iter": os._Environ.__dict__["__iter__"],
        "predicate": api._should_use_real_time,
        "fake_now": api.FakeDatetime.__dict__["now"],
        "fake_today": api.FakeDate.__dict__["today"],
        "factories": list(api.freeze_factories),
    }


@pytest.mark.parametrize("how", ["normal", "exception", "bare"])
def test_everything_is_restored(how):
    before = _snapshot()
    random.seed(99)
    state = random.getstate()
    if how == "bare":
        with step():
            random.random()
    else:
        with pytest.raises(KeyError) if how == "exception" else _nullcontext():
            with sb.session():
                assert _snapshot() != before
                with step():
                    random.random()
                    if how == "exception":
                        raise KeyError("boom")
    assert _snapshot() == before
    assert datetime.datetime is api.real_datetime and time.time is api.real_time and time.sleep is audit.REAL_SLEEP
    assert os.urandom is randomness.REAL_URANDOM and threading.Thread.start is audit.REAL_THREAD_START
    assert random.getstate() == state and not sb.active()


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_register_module_covers_from_imports(tmp_path: Path):
    module = make_module("sandbox_registered_probe", "from time import sleep\nfrom os import urandom\n")
    try:
        sb.register_module(module)
        with sb.session():
            with pytest.raises(SandboxViolation, match=r"time\.sleep"):
                with step(random.Random(2)):
                    module.sleep(0)
            with step(random.Random(2)):
                assert module.urandom(4) == random.Random(2).randbytes(4)
        assert module.sleep is time.sleep and module.urandom is os.urandom
        late = make_module("sandbox_registered_late", "from time import sleep\n")
        with sb.session():
            sb.register_module(late)  # registering during a session takes effect at once
            with pytest.raises(SandboxViolation):
                with step():
                    late.sleep(0)
        assert late.sleep is time.sleep
    finally:
        sb.unregister_module("sandbox_registered_probe")
        sb.unregister_module("sandbox_registered_late")
        sys.modules.pop("sandbox_registered_probe", None)
        sys.modules.pop("sandbox_registered_late", None)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        with sb.workflow_code(NAIVE, random.Random()):
            pass
    with pytest.raises(ValueError, match="mode"):
        with step(mode="loud"):
            pass


def test_refuses_to_start_inside_a_freezegun_freeze():
    with freezegun.freeze_time("2010-01-01"):
        with pytest.raises(RuntimeError, match="freeze_time"):
            with sb.session():
                pass
        assert api._should_use_real_time is not clock.use_real_time


def test_violation_pickles(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    v = pickle.loads(pickle.dumps(SandboxViolation("time.sleep", "/x/flows.py", 12)))
    assert (v.call, v.filename, v.lineno) == ("time.sleep", "/x/flows.py", 12)
    assert str(v).startswith("workflow code called time.sleep at /x/flows.py:12 — ")


def test_audit_hook_is_installed_once() -> None:
    # In a fresh process: a hook cannot be removed, so counting them here would depend on the
    # tests that ran before (and a fake addaudithook would leave the flag set without a hook).
    code = """
import sys
added = []
real = sys.addaudithook
sys.addaudithook = lambda hook: (added.append(hook), real(hook))
from replaytest import sandbox
for _ in range(3):
    with sandbox.session():
        pass
print(len(added))
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.stdout.strip() == "1", run.stderr
