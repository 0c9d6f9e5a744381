"""The ``replaytest`` command, run as a user would: a subprocess from the repository root."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from fixtures.workflows import engine_checks, hostile, orders
from replaytest import Engine, History
from replaytest.history import schema
from tests.conftest import CLI, ROOT, run_replaytest
from tests.test_history_consistency import cli as replaytest_in
from tests.test_plugin import DATA, surrogate_histories
from tests.test_report import ORDER as SHOP_ORDER
from tests.test_report import SHOP
from tests.test_report import cli as replaytest_at

ORDER = json.dumps(
    {
        "id": "42",
        "email": "ada@example.com",
        "card": "4242-4242-4242-4242",
        "items": [{"sku": "tea", "price": 12.5, "qty": 2}],
    }
)
FIXTURES = str(ROOT / "fixtures" / "histories")
HOSTILE = "fixtures.workflows.hostile"
CHECKS = "fixtures.workflows.engine_checks"
NW = "tests.data.run_workflows"
SAMPLES = [
    "--module",
    "fixtures.workflows.orders",
    "--module",
    "fixtures.workflows.onboarding",
    "--module",
    "fixtures.workflows.payments",
]


def test_run_prints_the_result(cli: CLI) -> None:
    done = cli("run", "fixtures.workflows.orders:process_order", "--input", ORDER, "--id", "order-42")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["charged"] == 25.0
    assert "order-42: completed (23 events)" in done.stderr


def test_run_of_a_failing_workflow_exits_1(cli: CLI) -> None:
    declined = json.loads(ORDER) | {"card": "4000-0000-0000-0002"}
    done = cli("run", "fixtures.workflows.orders:process_order", "--input", json.dumps(declined), "--id", "o")
    assert done.returncode == 1 and done.stdout == ""
    assert "workflow o failed: CardDeclined: " in done.stderr and "Traceback" not in done.stderr


def test_start_signal_worker_list_show(cli: CLI, db: Path) -> None:
    user = json.dumps({"id": "u7", "email": "grace@example.com"})
    started = cli("start", "fixtures.workflows.onboarding:onboarding", "--input", user, "--id", "onboarding-7")
    assert started.returncode == 0 and started.stdout.startswith("started onboarding-7 (run ")
    assert "onboarding-7  onboarding  running" in cli("list").stdout
    signalled = cli("signal", "onboarding-7", "subscription", "--payload", '"cancelled"')
    assert signalled.stdout == 'signalled onboarding-7: subscription "cancelled"\n'
    worked = cli("worker", "--module", "fixtures.workflows.onboarding", "--until-idle", "--virtual-clock")
    assert worked.returncode == 0 and "onboarding-7: workflow completed" in worked.stderr
    assert cli("list", "--status", "running").stdout == f"no running workflows in {db}\n"
    shown = cli("show", "onboarding-7").stdout.splitlines()
    assert shown[0].startswith("onboarding-7 (onboarding) completed — run ")
    assert "WorkflowExecutionSignaled 'subscription' \"cancelled\"" in shown[3]
    assert 'WorkflowExecutionCompleted result={"user": "u7", "outcome": "cancelled"' in shown[-1]


# registers the buggy `process_order` next to orders.py's (for its activities): on purpose
@pytest.mark.filterwarnings("ignore::replaytest.DuplicateWorkflowWarning")
def test_show_and_list_explain_a_failing_workflow_task(cli: CLI, db: Path) -> None:
    buggy = Engine(db, clock="virtual").register(engine_checks.process_order_before_hotfix, orders)
    gift = json.loads(ORDER) | {"items": [{"sku": "gift", "price": 25.0, "qty": 1, "gift_card": True}]}
    buggy.start(engine_checks.process_order_before_hotfix, gift, id="order-44")
    buggy.work()
    listed = cli("list").stdout
    assert "order-44     process_order  running (task failing, attempt 1)" in listed
    assert "ZeroDivisionError: float division by zero at fixtures/workflows/engine_checks.py:" in listed
    shown = cli("show", "order-44").stdout
    assert "WorkflowTaskFailed ZeroDivisionError: float division by zero at " in shown
    assert "engine_checks.py:" in shown and "return min(15.0, round(amount / units / 10, 1))" in shown
    assert "pending: workflow task (attempt 2) due " in shown


def test_export_one_all_and_by_status(cli: CLI, db: Path, tmp_path: Path) -> None:
    engine = Engine(db, clock="virtual").register(orders, engine_checks.wait_signals)
    engine.start(orders.process_order, json.loads(ORDER), id="order-42").result()
    engine.start(engine_checks.wait_signals, {"count": 1}, id="waiting")
    one = cli("export", "order-42", "-o", str(tmp_path / "one"))
    assert one.returncode == 0 and one.stdout.strip().endswith("order-42.json")
    assert History.load(tmp_path / "one" / "order-42.json").status == "completed"
    cli("export", "--all", "-o", str(tmp_path / "all"))
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == ["order-42.json", "waiting.json"]
    cli("export", "--all", "--status", "running", "-o", str(tmp_path / "running"))
    assert [p.name for p in (tmp_path / "running").iterdir()] == ["waiting.json"]


def test_export_of_one_id_with_status_names_a_typo_or_a_status_that_does_not_match(
    cli: CLI, db: Path, tmp_path: Path
) -> None:
    engine = Engine(db, clock="virtual").register(orders, engine_checks.wait_signals)
    engine.start(engine_checks.wait_signals, {"count": 1}, id="waiting")
    typo = cli("export", "waitng", "--status", "running", "-o", str(tmp_path / "a"))
    assert typo.returncode == 2, typo.stdout + typo.stderr
    assert typo.stderr.startswith("replaytest: error: no workflow with id 'waitng'"), typo.stderr
    other = cli("export", "waiting", "--status", "failed", "-o", str(tmp_path / "b"))
    assert other.returncode == 1 and not (tmp_path / "b").exists(), other.stdout + other.stderr
    assert other.stderr.strip() == "waiting is running, not failed: nothing exported (without --status it is)"
    match = cli("export", "waiting", "--status", "running", "-o", str(tmp_path / "c"))
    assert match.returncode == 0 and (tmp_path / "c" / "waiting.json").exists(), match.stderr


def test_schema_prints_the_published_schema(cli: CLI) -> None:
    done = cli("schema")
    assert done.returncode == 0 and json.loads(done.stdout) == schema()


def test_replay_of_the_fixtures_passes(cli: CLI) -> None:
    done = cli("replay", FIXTURES, *SAMPLES)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("\nok    ") + done.stdout.startswith("ok    ") == 5
    assert done.stdout.endswith("5 histories replayed: 5 ok, 0 failed\n")


def test_replay_reports_a_divergence_in_full_and_exits_1(cli: CLI) -> None:
    done = cli("replay", f"{FIXTURES}/order-42.json", "--module", "fixtures.workflows.engine_checks")
    assert done.returncode == 1
    assert (
        "Nondeterminism in workflow order-42 (process_order) at history event 17: different activity arguments"
        in done.stdout
    )
    assert "history recorded: ActivityTaskScheduled send_confirmation(" in done.stdout and "What to do:" in done.stdout
    warned = cli(
        "replay", f"{FIXTURES}/order-42.json", "--module", "fixtures.workflows.engine_checks", "--args", "warn"
    )
    assert "at history event 23: a different workflow result" in warned.stdout  # got past the arguments


def test_replay_without_modules_uses_the_recorded_module(cli: CLI) -> None:
    done = cli("replay", f"{FIXTURES}/order-44.json")  # recorded by the code before the hotfix
    assert done.returncode == 1 and "workflow code raised ZeroDivisionError: float division by zero" in done.stdout


def test_replay_reports_a_bad_file_and_still_replays_the_others(cli: CLI, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "replaytest.history", "version": 1, "events": [')
    done = cli("replay", str(bad), f"{FIXTURES}/order-42.json", *SAMPLES)
    assert done.returncode == 1
    assert f"FAIL  {bad}: line 1 column" in done.stdout and "invalid JSON" in done.stdout
    assert "ok    " in done.stdout and done.stdout.endswith(
        "1 history replayed: 1 ok, 0 failed; 1 file not replayed: not a usable history (FAIL above)\n"
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (("run", "no_such_module:wf", "--input", "1"), "cannot import module 'no_such_module'"),
        (("run", "fixtures.workflows.orders:process_order", "--input", "{bad"), "--input is not valid JSON"),
        (("run", "fixtures.workflows.orders:process_order"), "takes order: pass each argument as --input JSON"),
        (("run", "fixtures.workflows.orders:nope", "--input", "1"), "has no 'nope'"),
        (
            ("start", "fixtures.workflows.orders:process_order", "--input", "{}"),
            "the following arguments are required: --id",
        ),
        (("show", "nobody"), "no workflow with id 'nobody'"),
        (("signal", "nobody", "go"), "no workflow with id 'nobody'"),
        (("export", "-o", "x"), "export needs a workflow ID or --all"),
        (("worker", "--module", "no_such_module", "--until-idle"), "cannot import module 'no_such_module'"),
        (("replay", FIXTURES, "--module", "no_such_module"), "cannot import module 'no_such_module'"),
        (("frobnicate",), "invalid choice: 'frobnicate'"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(cli: CLI, db: Path, args, message) -> None:
    if args[0] in ("show", "signal", "export"):  # these need an existing database
        Engine(db).close()
    done = cli(*args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("replaytest: error: ")


def test_commands_need_an_existing_database(cli: CLI) -> None:
    done = cli("list")
    assert done.returncode == 2 and "no engine database at " in done.stderr


def test_worker_stops_gracefully_on_sigterm(db: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "replaytest", "worker", "--module", "fixtures.workflows.orders", "--db", str(db)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    guard = threading.Timer(60, proc.kill)  # a hang becomes a failure, not a stuck suite
    guard.start()
    try:
        assert proc.stderr is not None
        started = ""
        for line in proc.stderr:  # the worker's first line is logged once its stop handlers are installed
            started += line
            if " clock): workflows " in line:
                break
        assert " clock): workflows " in started, started
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        guard.cancel()
        proc.kill()
        proc.wait()
    assert proc.returncode == 0 and "worker stopped" in err and "Traceback" not in err, started + err


def test_replay_debug_options_are_checked_in_one_line(cli: CLI) -> None:
    bad = cli("replay", "fixtures/histories/order-42.json", "--break-at", "x", use_db=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "--break-at 'x': expected a history event id" in bad.stderr
    remote = cli("replay", "fixtures/histories/order-42.json", "--debug=0.0.0.0:0", use_db=False)
    assert remote.returncode == 2 and "pass --debug-allow-remote if you mean it" in remote.stderr


# ---------------------------------------------------------------------------- hostile ids and export file names
@pytest.mark.parametrize(
    "command",
    [
        ("signal", "x\udcff", "go"),
        ("show", "x\udcff"),
        ("export", "x\udcff", "-o", "out"),
        ("signal", "w", "go\udcff"),
        ("start", f"{HOSTILE}:fine", "--id", "x\udcff"),
    ],
    ids=["signal-id", "show", "export", "signal-name", "start"],
)
def test_ids_from_bytes_that_are_not_utf8_are_one_line(cli: CLI, db: Path, command: tuple[str, ...]) -> None:
    """A shell passes arbitrary bytes; Python decodes b"x\xff" as "x\udcff" (surrogateescape)."""
    assert cli("start", f"{HOSTILE}:wait_for_go", "--id", "w").returncode == 0
    proc = cli(*command)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "is not valid Unicode" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_cli_signal_with_a_lone_surrogate_is_one_line(cli: CLI, db: Path) -> None:
    assert cli("start", f"{HOSTILE}:wait_for_go", "--id", "w").returncode == 0
    proc = cli("signal", "w", "go", "--payload", '{"text": "\\ud800"}')
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "lone surrogate" in proc.stderr and "--payload" in proc.stderr


def test_export_all_gives_every_id_its_own_reversible_file(db: Path, tmp_path: Path) -> None:
    import urllib.parse

    from replaytest import History

    ids = ["a/b", "a_b", "a:b", "a%2Fb", "../up", ".", "..", ".hidden", "x" * 300, "x" * 300 + "y", "é ü/\\*?"]
    with Engine(db, clock="virtual").register(hostile) as e:
        for workflow_id in ids:
            e.start(hostile.fine, id=workflow_id)
        e.work()
    out = tmp_path / "out"
    proc = run_replaytest("export", "--all", "-o", str(out), "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    files = sorted(out.iterdir())
    assert len(files) == len(ids) and all(f.parent == out for f in files)  # nothing lost, nothing outside
    assert sorted(History.load(f).workflow_id for f in files) == sorted(ids)
    for f in files:
        name = f.name[: -len(".json")]
        if len(name) < 180:  # short names are the id, percent-encoded
            assert urllib.parse.unquote(name) == History.load(f).workflow_id
        assert not name.startswith(".")


def test_cli_replays_every_file_after_an_id_that_is_not_text(tmp_path: Path) -> None:
    surrogate_histories(tmp_path)
    shutil.copy(DATA / "order_workflows.py", tmp_path)
    for order in (["b-surrogate.json", "a-good.json"], ["c-raw.json", "b-surrogate.json", "a-good.json"]):
        done = replaytest_in("replay", *order, "--module", "order_workflows", cwd=tmp_path)
        assert "Traceback" not in done.stdout + done.stderr, done.stderr
        bad = len(order) - 2  # files that are no usable history are not counted as replayed
        unusable = f"; {bad} file not replayed: not a usable history (FAIL above)" if bad else ""
        assert done.stdout.rstrip().endswith(f"2 histories replayed: 2 ok, 0 failed{unusable}"), done.stdout
        assert "ok    b-surrogate.json: \\ud800 (checkout)" in done.stdout


# ---------------------------------------------------------------------------- worker, export -o, --version, --lease-seconds
def test_real_clock_until_idle_worker_names_the_timer_it_waits_for(cli: CLI) -> None:
    assert (
        cli("start", f"{CHECKS}:wait_signals", "--input", '{"count": 1, "timeout": 1.5}', "--id", "ws").returncode == 0
    )
    done = cli("worker", "--module", CHECKS, "--until-idle")
    assert done.returncode == 0, done.stderr
    waiting = [line for line in done.stderr.splitlines() if "waiting" in line]
    assert waiting and "ws" in waiting[0] and "timer" in waiting[0] and "due " in waiting[0], done.stderr
    assert "ws: workflow completed" in done.stderr


def test_export_to_a_file_name_and_its_mistakes(cli: CLI, db: Path, tmp_path: Path) -> None:
    assert cli("run", f"{NW}:what_time", "--id", "w").returncode == 0
    target = tmp_path / "my-order.json"
    done = cli("export", "w", "-o", str(target))
    assert done.returncode == 0 and done.stdout == f"{target}\n"
    assert target.is_file() and History.load(target).workflow_id == "w"
    again = cli("export", "w", "-o", str(target))
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "Traceback" not in again.stderr
    assert "already exists" in again.stderr and "--force" in again.stderr
    assert cli("export", "w", "-o", str(target), "--force").returncode == 0
    forbidden = cli("export", "w", "-o", "/proc/forbidden")
    assert forbidden.returncode == 2 and forbidden.stderr.count("\n") == 1 and "Traceback" not in forbidden.stderr
    assert forbidden.stderr.startswith("replaytest: error: cannot write /proc/forbidden")
    into_dir = cli("export", "w", "-o", str(tmp_path / "out"))
    assert into_dir.stdout == f"{tmp_path / 'out' / 'w.json'}\n"


def test_export_into_a_directory_keeps_existing_files_unless_forced(cli: CLI, db: Path, tmp_path: Path) -> None:
    """An existing DIR/<id>.json (maybe another run of the id, or a committed regression
    history) is never replaced silently: one ID refuses as -o FILE.json does, --all/--status
    keep it, write the others and say which they kept; --force replaces."""
    engine = Engine(db, clock="virtual").register(orders, engine_checks.wait_signals)
    engine.start(orders.process_order, json.loads(ORDER), id="order-42").result()
    engine.start(engine_checks.wait_signals, {"count": 1}, id="waiting")
    out = tmp_path / "histories"
    out.mkdir()
    precious = out / "order-42.json"
    precious.write_text('{"precious": true}')
    one = cli("export", "order-42", "-o", f"{out}/")
    assert one.returncode == 2 and one.stdout == "" and "Traceback" not in one.stderr
    assert (
        one.stderr
        == f"replaytest: error: {precious} already exists; pass --force to overwrite it, or choose another -o\n"
    )
    assert precious.read_text() == '{"precious": true}'
    every = cli("export", "--all", "-o", str(out))
    assert every.returncode == 0, every.stderr
    assert every.stdout == f"{out / 'waiting.json'}\n"  # only what was written
    assert every.stderr == f"kept 1 existing file in {out} (--force replaces it): order-42.json\n"
    assert precious.read_text() == '{"precious": true}'
    again = cli("export", "--status", "running", "-o", str(out))
    assert again.stdout == "" and again.stderr == f"kept 1 existing file in {out} (--force replaces it): waiting.json\n"
    forced = cli("export", "--all", "-o", str(out), "--force")
    assert forced.returncode == 0 and forced.stderr == ""
    assert sorted(forced.stdout.split()) == [str(precious), str(out / "waiting.json")]
    assert History.load(precious).status == "completed"
    precious.write_text('{"precious": true}')
    assert cli("export", "order-42", "-o", str(out), "--force").stdout == f"{precious}\n"
    assert History.load(precious).workflow_id == "order-42"


def test_version(cli: CLI) -> None:
    from importlib.metadata import version

    done = cli("--version", use_db=False)
    assert done.returncode == 0 and done.stdout == f"replaytest {version('replaytest')}\n"


@pytest.mark.parametrize("seconds", ["0", "-5", "nan"])
def test_lease_seconds_must_be_positive(cli: CLI, seconds: str) -> None:
    done = cli("worker", "--module", CHECKS, "--until-idle", f"--lease-seconds={seconds}")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "--lease-seconds must be a positive number of seconds" in done.stderr


# ---------------------------------------------------------------------------- hints
def test_cli_hints_are_shell_quoted(tmp_path: Path) -> None:
    (tmp_path / "shop.py").write_text(SHOP)
    odd = "weird id/with:chars"
    done = replaytest_at(tmp_path, "run", "shop:triage", "--input", json.dumps(SHOP_ORDER), "--id", odd, "--db", "e.db")
    assert done.returncode == 0, done.stderr
    hint = re.search(r"`(replaytest show [^`]*)`", done.stderr)
    assert hint and shlex.split(hint.group(1)) == ["replaytest", "show", odd, "--db", "e.db"], done.stderr
    pasted = replaytest_at(tmp_path, *shlex.split(hint.group(1))[1:])
    assert pasted.returncode == 0 and pasted.stdout.startswith(f"{odd} (triage) completed"), pasted.stderr
    done = replaytest_at(
        tmp_path, "start", "shop:triage", "--input", json.dumps(SHOP_ORDER), "--id", "o 2", "--db", "e.db"
    )
    hint = re.search(r"`(replaytest worker [^`]*)`", done.stdout)
    # the module to run, not a placeholder
    assert hint and shlex.split(hint.group(1)) == ["replaytest", "worker", "--module", "shop", "--db", "e.db"], (
        done.stdout
    )
