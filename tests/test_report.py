"""Divergence and workflow-task-error reports (report/): a different result shows where the JSON
differs, the `return` that ran, an HTTP call at the user's line, warnings seen before the
failure. Every test records a real history with the embedded engine (in a subprocess, as a
user's `replaytest run` would), edits the workflow code as a developer would, and replays
through the public API or the `replaytest` command."""

from __future__ import annotations

import http.server
import importlib.util
import json
import shutil
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from replaytest import Engine, History, NondeterminismError, WorkflowTaskError, replay
from replaytest.definitions import ReplaytestError
from replaytest.report import Divergence, UnknownWorkflowError, report_lines
from replaytest.report.divergence import InternalError, Verdict
from replaytest.report.render import workflow_task_report

SHOP = """\
import urllib.request
from replaytest import activity, workflow

URL = "http://127.0.0.1:9/"


@activity.defn
def charge(order: dict) -> dict:
    return {"id": "ch_1", "cents": order["cents"]}


@activity.defn
def email(to: str) -> str:
    return "sent"


@activity.defn
def sms(to: str) -> str:
    return "sent"


@workflow.defn
async def summary(order: dict) -> dict:
    receipt = await workflow.execute_activity(charge, order)
    return {"order": order["id"], "status": "charged", "cents": order["cents"], "charge": receipt,
            "items": ["tea", "mug", "cup"], "note": "thank you for your order, see you soon", "currency": "EUR"}


@workflow.defn
async def triage(order: dict) -> str:
    await workflow.execute_activity(charge, order)
    if order["cents"] > 100000:
        return "big"
    if order["cents"] > 1000:
        return "medium"  # RETURN-MEDIUM
    return "small"


@workflow.defn
async def notify(order: dict) -> str:
    await workflow.execute_activity(charge, order)
    await workflow.execute_activity(email, "ada@example.com")
    return "done"


@workflow.defn
async def fetch(order: dict) -> str:
    await workflow.execute_activity(charge, order)
    return "done"  # FETCH
"""


ORDER = {"id": "1", "cents": 7750}


RECORD = """\
import importlib, json, sys
sys.path.insert(0, ".")
from replaytest import Engine
module_name, fn_name, workflow_id, args, out = sys.argv[1:6]
module = importlib.import_module(module_name)
with Engine(out + ".db", clock="virtual") as engine:
    engine.register(module)
    handle = engine.start(getattr(module, fn_name), *json.loads(args), id=workflow_id)
    handle.result()
    handle.history().save(out)
"""


def record(
    project: Path, module: str, fn: str, *args: Any, workflow_id: str | None = None, out: str = "histories"
) -> Path:
    """Run ``module:fn`` on a fresh engine in a subprocess (as `replaytest run` would) and save
    its history under ``project/out``."""
    workflow_id = workflow_id or fn
    path = project / out / f"{workflow_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", RECORD, module, fn, workflow_id, json.dumps(list(args)), str(path)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))
    shutil.rmtree(path.parent / "__pycache__", ignore_errors=True)


_loaded = 0


def load(path: Path) -> types.ModuleType:
    """Import the (edited) file under a name of its own, so tests never share a module."""
    global _loaded
    _loaded += 1
    name = f"_edited_{path.stem}_{_loaded}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def line_of(path: Path, marker: str) -> int:
    return next(n for n, text in enumerate(path.read_text().splitlines(), 1) if text.rstrip().endswith(f"# {marker}"))


def cli(project: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "replaytest", *args], cwd=project, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    (tmp_path / "shop.py").write_text(SHOP)
    return tmp_path


@pytest.fixture
def http_server() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1, for workflow code that (wrongly) calls one."""

    class Quiet(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def report_field(message: str, label: str) -> str:
    return next(line for line in message.splitlines() if line.strip().startswith(label))


def test_a_different_result_shows_where_the_json_differs(shop: Path) -> None:
    history = History.load(record(shop, "shop", "summary", ORDER))
    edit(shop / "shop.py", '"currency": "EUR"}', '"currency": "USD"}')
    with pytest.raises(NondeterminismError) as info:
        replay(history, [load(shop / "shop.py")])
    err = info.value
    assert err.kind == "result"
    message = str(err)
    recorded, issued = report_field(message, "history recorded:"), report_field(message, "code issued:")
    assert recorded.split(":", 1)[1].strip() != issued.split(":", 1)[1].strip(), (
        message
    )  # not two identical truncated lines
    assert '"EUR"' in recorded and '"USD"' in issued, message  # the differing key comes first
    diff = [line for line in message.splitlines() if "currency" in line and "EUR" in line and "USD" in line]
    assert diff, message  # a line names the key and both values
    assert "status" not in diff[0] and "cents" not in diff[0]  # only what differs


def test_a_different_nested_result_names_the_path(shop: Path) -> None:
    history = History.load(record(shop, "shop", "summary", ORDER))
    edit(shop / "shop.py", '"items": ["tea", "mug", "cup"]', '"items": ["tea", "cup", "cup"]')
    with pytest.raises(NondeterminismError) as info:
        replay(history, [load(shop / "shop.py")])
    message = str(info.value)
    assert any("items[1]" in line and '"mug"' in line and '"cup"' in line for line in message.splitlines()), message


def test_with_several_returns_the_report_points_at_the_return_that_ran(shop: Path) -> None:
    history = History.load(record(shop, "shop", "triage", ORDER))
    edit(shop / "shop.py", 'return "medium"', 'return "mid"')
    with pytest.raises(NondeterminismError) as info:
        replay(history, [load(shop / "shop.py")])
    err = info.value
    assert err.kind == "result"
    assert err.source is not None and err.source.line == line_of(shop / "shop.py", "RETURN-MEDIUM")
    assert 'return "mid"' in str(err)


HTTP_CALL = (
    '    return "done"  # FETCH',
    '    urllib.request.urlopen(URL, timeout=5)  # FETCH-HTTP\n    return "done"',
)


def test_an_http_call_is_reported_as_the_call_at_the_users_line(shop: Path) -> None:
    history = History.load(record(shop, "shop", "fetch", ORDER))
    edit(shop / "shop.py", *HTTP_CALL)
    with pytest.raises(WorkflowTaskError) as info:
        replay(history, [load(shop / "shop.py")])
    err = info.value
    line = line_of(shop / "shop.py", "FETCH-HTTP")
    message = str(err)
    assert "workflow code called urllib.request.urlopen" in message, message
    assert err.source is not None and (Path(err.source.file).name, err.source.line) == ("shop.py", line), message
    assert "urllib/request.py" not in message and "getproxies" not in message, message  # no stdlib `at` line


def test_an_http_call_in_warn_mode_is_one_warning(shop: Path, http_server: str) -> None:
    history = History.load(record(shop, "shop", "fetch", ORDER))
    edit(shop / "shop.py", *HTTP_CALL)
    module = load(shop / "shop.py")
    vars(module)["URL"] = http_server  # the call goes through (warn mode lets it)
    result = replay(history, [module], sandbox="warn")
    assert result.status == "completed"
    assert len(result.warnings) == 1, result.warnings
    (warning,) = result.warnings
    assert "urllib.request.urlopen" in warning and f"shop.py:{line_of(shop / 'shop.py', 'FETCH-HTTP')}" in warning
    assert "os.environ[" not in warning  # no environment variable names


def test_warnings_before_a_workflow_task_error_are_in_its_report(shop: Path) -> None:
    history = History.load(record(shop, "shop", "fetch", ORDER))
    edit(shop / "shop.py", *HTTP_CALL)  # warn mode lets the call go to a closed port: URLError
    with pytest.raises(WorkflowTaskError) as info:
        replay(history, [load(shop / "shop.py")], sandbox="warn")
    assert type(info.value.error).__name__ == "URLError"
    assert len(info.value.warnings) == 1 and "urllib.request.urlopen" in info.value.warnings[0]
    done = cli(shop, "replay", "histories/fetch.json", "--module", "shop", "--sandbox", "warn")
    assert (
        "URLError" in done.stdout
        and "warning before the failure: sandbox: workflow code called urllib.request.urlopen" in done.stdout
    ), done.stdout


def test_the_cli_reports_an_http_call_at_the_users_line(shop: Path) -> None:
    record(shop, "shop", "fetch", ORDER)
    edit(shop / "shop.py", *HTTP_CALL)
    done = cli(shop, "replay", "histories/fetch.json", "--module", "shop")
    assert done.returncode == 1, done.stdout + done.stderr
    line = line_of(shop / "shop.py", "FETCH-HTTP")
    assert "urllib.request.urlopen" in done.stdout and f"shop.py:{line}" in done.stdout, done.stdout
    assert "urllib/request.py" not in done.stdout and "iter(os.environ) at" not in done.stdout, done.stdout


def test_the_engine_records_an_http_call_at_the_users_line(shop: Path) -> None:
    edit(shop / "shop.py", *HTTP_CALL)
    module = load(shop / "shop.py")
    with Engine(shop / "live.db", clock="virtual", sandbox="strict") as engine:
        engine.register(module)
        engine.start(module.fetch, ORDER, id="fetch-live")
        engine.work(until_idle=True)
        failure = engine.describe("fetch-live").task_failure
    assert failure is not None
    assert failure["source"]["line"] == line_of(shop / "shop.py", "FETCH-HTTP"), failure
    assert failure["source"]["file"].endswith("shop.py"), failure
    assert "urllib.request.urlopen" in failure["message"], failure


ARGS_THEN_ACTIVITY = [
    (
        "await workflow.execute_activity(charge, order)\n    await workflow.execute_activity(email",
        'await workflow.execute_activity(charge, {**order, "coupon": None})\n    await workflow.execute_activity(email',
    ),
    ('execute_activity(email, "ada@example.com")', 'execute_activity(sms, "ada@example.com")'),
]


def test_warnings_collected_before_a_divergence_are_in_its_report(shop: Path) -> None:
    history = History.load(record(shop, "shop", "notify", ORDER))
    for old, new in ARGS_THEN_ACTIVITY:
        edit(shop / "shop.py", old, new)
    with pytest.raises(NondeterminismError) as info:
        replay(history, [load(shop / "shop.py")], args_mismatch="warn")
    message = str(info.value)
    assert info.value.kind == "activity_type"
    assert "activity charge arguments differ" in message and '"coupon"' in message.replace("'", '"'), message
    assert message.index("arguments differ") > message.index("history recorded:")  # part of the report


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3),
    max_leaves=10,
)


@given(json_values, json_values)
def test_json_differences_are_empty_exactly_when_equal_and_reordering_keeps_the_value(a: Any, b: Any) -> None:
    from replaytest.report import jsondiff

    found = jsondiff.differences(a, b)
    assert (found == []) == (a == b)
    assert jsondiff.differing_first(a, b) == a  # same content, only the key order changes
    assert bool(jsondiff.summary(a, b)) == bool(found)
    if found and isinstance(a, dict) and isinstance(b, dict):  # a key path, never "the whole value"
        assert found[0][0] != "" and "as a whole" not in jsondiff.summary(a, b)


# ---------------------------------------------------------------- the verdict base, the shared report
def _divergence() -> Divergence:
    return Divergence("command", "wf-1", "flow", 3, "ActivityTaskScheduled", "charge", "refund", detail="d")


@pytest.mark.parametrize("verdict", [NondeterminismError, WorkflowTaskError, UnknownWorkflowError])
def test_every_verdict_shares_one_base(verdict: type[Exception]) -> None:
    assert issubclass(verdict, Verdict)


def test_a_divergences_fields_are_typed_properties_not_a_catch_all() -> None:
    error = NondeterminismError(_divergence())
    assert (error.kind, error.event_id, error.recorded, error.issued) == ("command", 3, "charge", "refund")
    assert "__getattr__" not in vars(NondeterminismError)
    with pytest.raises(AttributeError):
        error.no_such_field  # type: ignore[attr-defined]  # noqa: B018


def test_an_internal_error_is_a_type_reported_as_a_bug_in_one_line() -> None:
    assert not issubclass(InternalError, (Verdict, ReplaytestError))
    ok, lines = report_lines("h.json", InternalError("the SDK started the body of step 'charge'"))
    assert not ok
    assert lines == [
        "FAIL  h.json: internal error in replaytest (InternalError: the SDK started the body of step 'charge'); "
        "please report it with this history file"
    ]


def test_a_backend_adds_its_notes_to_the_shared_workflow_task_report() -> None:
    empty: dict[str, object] = {}
    try:
        empty["parts"]
    except KeyError as e:
        error = WorkflowTaskError("wf-1", e, None, {"type": "KeyError", "message": "'parts'"})
    error.workflow_type = "Flow"
    error.task_place = " in the workflow task started at history event 5"
    error.hints = ["the platform says: do not"]
    error.history_note = "history recorded this workflow task as completed"
    error.history_source = "h.json"
    error.timeline = ["→    5  WorkflowTaskStarted"]
    error.platform_message = ("platformio", "it broke")
    assert workflow_task_report(error).splitlines() == [
        "Workflow code raised in workflow wf-1 (Flow) in the workflow task started at history event 5: KeyError: 'parts'",
        "  the platform says: do not",
        "  history recorded this workflow task as completed",
        "  history file: h.json",
        "  timeline:",
        "    →    5  WorkflowTaskStarted",
        "  platformio: it broke",
    ]
