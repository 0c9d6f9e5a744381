"""The history page's data, without a browser: each backend's timeline hook, the verdict as
data, JSON that cannot break out of its script block, `replaytest view` and `--replay-html`
(across xdist workers). tests/test_view_browser.py checks what a person sees."""

from __future__ import annotations

import html as htmllib
import io
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from replaytest.backends import Entry, backend_for, read_document
from replaytest.cli.view import view_files
from replaytest.view.page import embed_json
from replaytest.view.sections import section

pytest_plugins = ["tests.dt_fixtures"]

ROOT = Path(__file__).resolve().parents[1]
HISTORIES = ROOT / "fixtures" / "histories"
AWS = ROOT / "tests" / "data" / "aws"


def page_data(path: Path) -> dict[str, Any]:
    """The JSON the page embeds, read back the way the page's script reads it."""
    text = path.read_text(encoding="utf-8")
    m = re.search(r'<script type="application/json" id="replaytest-data">(.*?)</script>', text, re.S)
    assert m, "no data block"
    return json.loads(m.group(1))


def timeline(path: Path, index: int = 0) -> Any:
    doc = read_document(path)
    backend = backend_for(doc)
    entry = backend.entries(path, doc)[index]
    return backend.timeline(entry, doc, display=str(path))  # type: ignore[attr-defined]


def lanes(tl: Any) -> dict[str, list[tuple[Any, ...]]]:
    return {lane.label: [(b.start, b.end, b.status) for b in lane.bars] for lane in tl.lanes}


# ---------------------------------------------------------------- the JSON block
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_embedded_json_cannot_close_its_script_block_and_reads_back(value: Any) -> None:
    text = embed_json({"v": value})
    assert not set(text) & {"<", ">", "&"} and text.isascii()
    back = json.loads(text)["v"]
    if not (isinstance(value, float) and value != value) and "nan" not in repr(value) and "inf" not in repr(value):
        assert back == value


def test_non_finite_numbers_are_shown_as_text_not_a_broken_page() -> None:
    assert json.loads(embed_json([float("nan"), float("inf"), 1.5])) == ["nan", "inf", 1.5]


# ---------------------------------------------------------------- each backend's hook
def test_native_timeline_lanes_follow_the_history() -> None:
    tl = timeline(HISTORIES / "onboarding-7.json")
    assert (tl.backend, tl.workflow_id, tl.workflow_type, tl.status) == (
        "native",
        "onboarding-7",
        "onboarding",
        "completed",
    )
    assert len(tl.events) == 38 and tl.events[0].time is not None
    got = lanes(tl)
    assert got["workflow onboarding"] == [(1, 38, "completed")]
    assert got["send_welcome_email · activity 1"] == [(5, 7, "completed")]
    assert got["timer 1"] == [(11, 12, "completed")]
    assert got["timer 3"] == [(33, None, "running")]  # open when the workflow ended
    assert got["signal 'subscription'"] == [(34, 34, "point")]
    assert tl.lanes[0].kind == "workflow"


def test_aws_timeline_shows_a_retried_step() -> None:
    tl = timeline(AWS / "pay-1.json")
    assert (tl.backend, tl.workflow_id, tl.workflow_type, tl.status) == ("aws", "pay-1", "payments", "running")
    got = lanes(tl)
    assert got["step 'charge' ↻ 1 retry"] == [(4, 5, "retrying")]
    assert got["execution pay-1"] == [(1, None, "running")]
    assert tl.events[4].detail["Error"]["Payload"]["ErrorType"] == "ZeroDivisionError"


def test_temporal_timeline_groups_events_like_the_web_ui(temporal_histories: Path) -> None:
    tl = timeline(temporal_histories / "client" / "order-1.json")
    assert (tl.backend, tl.workflow_id, tl.workflow_type, tl.status) == (
        "temporal",
        "order-1",
        "OrderWorkflow",
        "completed",
    )
    kinds = {lane.kind for lane in tl.lanes}
    assert kinds >= {"workflow", "workflow_task", "activity", "signal", "marker", "timer", "child"}
    got = lanes(tl)
    charge = next(bars for label, bars in got.items() if label.startswith("charge_card"))
    assert len(charge) == 1 and charge[0][2] == "completed"
    assert next(label for label in got if label.startswith("child ShippingWorkflow"))
    scheduled = next(e for e in tl.events if e.type == "ActivityTaskScheduled")
    assert scheduled.detail["input"] == ["1", ["tv-55", "hdmi"]]  # payloads decoded for people
    assert all(e.time is not None for e in tl.events)


def test_durable_task_timeline_shows_a_retried_activity_from_a_gzipped_export(dt_histories: Path) -> None:
    tl = timeline(dt_histories / "export" / "order-1.jsonl.gz")
    assert (tl.backend, tl.workflow_id, tl.workflow_type, tl.status) == (
        "durabletask",
        "order-1",
        "order_saga",
        "completed",
    )
    got = lanes(tl)
    assert got["charge · #2 ↻ 1 retry"] == [(7, 10, "failed"), (15, 18, "completed")]
    assert got["orchestration order_saga"] == [(2, 28, "completed")]
    assert len(tl.events) == 28 and tl.events[0].time is not None


def test_a_backend_without_a_timeline_hook_still_gets_its_section(monkeypatch: pytest.MonkeyPatch) -> None:
    class Toy:
        name = "toy"

    doc = {"format": "replaytest.history"}
    entry = Entry(Path("x.json"), 0, "x-1", "t", "toy")
    import replaytest.view.sections as sections

    monkeypatch.setattr(sections, "backend_for", lambda doc, display: Toy())
    s = section(entry, doc, "x.json", {"outcome": "passed", "label": "passed"})
    assert s["timeline"] is None and "the toy backend draws no timeline" in s["error"]
    assert s["verdict"]["outcome"] == "passed"


# ---------------------------------------------------------------- replaytest view
def test_view_replays_with_modules_and_marks_the_verdicts(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    page = tmp_path / "page.html"
    code = view_files(
        [str(HISTORIES / "order-42.json"), str(HISTORIES / "payment-3.json")],
        str(page),
        ["fixtures.broken.orders_v2", "fixtures.workflows.payments"],
        out=out,
        err=err,
    )
    assert code == 1 and err.getvalue() == ""
    assert f"wrote {page} (2 histories: divergence: 1, 1 passed); open it in a browser: file://" in out.getvalue()
    first, second = page_data(page)["sections"]  # failures first
    v = first["verdict"]
    assert (first["workflow_id"], v["outcome"], v["event_id"], v["matched"]) == ("order-42", "divergence", 11, 10)
    assert ["charge_card", True] in v["recorded"] and ["send_confirmation", True] in v["issued"]
    src = v["source"]
    assert (src["file"], src["line"]) == ("fixtures/broken/orders_v2.py", 19)
    assert [
        19,
        '    await workflow.execute_activity(send_confirmation, {"to": order["email"], "order_id": order["id"], "amount": total})',
    ] in src["lines"]
    assert len(src["lines"]) == 7
    assert second["verdict"]["outcome"] == "passed" and len(second["timeline"]["events"]) == 18
    retried = next(lane for lane in second["timeline"]["lanes"] if lane[0] == "activity")
    assert retried[1] == "authorize_payment · activity 1 ↻ 2 retries" and retried[2] == [
        [5, 7, "completed", "attempt 3"]
    ]


def test_view_of_a_bad_file_shows_why_and_draws_the_others(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "replaytest.history", "version": 1, "events": [{"id": 1}]}')
    page = tmp_path / "page.html"
    out = io.StringIO()
    code = view_files([str(bad), str(HISTORIES / "order-42.json")], str(page), out=out, err=io.StringIO())
    assert code == 1
    sections = page_data(page)["sections"]
    assert [s["workflow_id"] for s in sections] == ["bad", "order-42"]
    assert sections[0]["timeline"] is None and sections[0]["error"].startswith(f"{bad}: /events/0")
    assert sections[1]["verdict"] is None and len(sections[1]["timeline"]["events"]) == 23  # history only


def test_view_without_modules_calls_an_invalid_file_invalid_not_history_only(tmp_path: Path) -> None:
    files = {
        "list.json": "[]",
        "object.json": "{}",
        "no-events.json": '{"format": "replaytest.history", "version": 1, "events": []}',
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    page, out = tmp_path / "page.html", io.StringIO()
    paths = [str(tmp_path / name) for name in files] + [str(HISTORIES / "order-42.json")]
    assert view_files(paths, str(page), out=out, err=io.StringIO()) == 1
    sections = {s["file"]: s for s in page_data(page)["sections"]}
    for name in files:
        s = sections[str(tmp_path / name)]
        assert s["verdict"] is not None and s["verdict"]["outcome"] == "invalid_history", s
        assert s["verdict"]["report"] and s["error"], s
    assert sections[str(HISTORIES / "order-42.json")]["verdict"] is None  # drawn, not replayed: history only
    assert "(4 histories: invalid history: 3, history only: 1)" in out.getvalue(), out.getvalue()


def test_view_refuses_a_directory_as_output_in_one_line(tmp_path: Path) -> None:
    err = io.StringIO()
    assert view_files([str(HISTORIES / "order-42.json")], str(tmp_path), err=err, out=io.StringIO()) == 2
    assert (
        err.getvalue()
        == f"replaytest: error: -o {tmp_path} is a directory; name a file, e.g. -o {tmp_path / 'replaytest-view.html'}\n"
    )


def test_the_page_is_self_contained(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    view_files([str(HISTORIES / "order-42.json")], str(page), out=io.StringIO(), err=io.StringIO())
    text = page.read_text()
    assert not re.search(r"<[a-z]+[^>]*\s(src|href)\s*=", text, re.I)  # no external script, style, image or link
    assert re.findall(r"<script[^>]*>", text) == ['<script type="application/json" id="replaytest-data">', "<script>"]
    assert "http://" not in text and "https://" not in text
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text)
    assert csp and "default-src 'none'" in htmllib.unescape(csp.group(1))


# ---------------------------------------------------------------- pytest --replay-html
def test_replay_html_collects_every_replay_across_xdist_workers(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest -p no:randomly -p no:cacheprovider")
    shutil.copy(ROOT / "tests" / "data" / "plugin" / "order_workflows.py", pytester.path)
    shutil.copytree(ROOT / "tests" / "data" / "plugin" / "histories", pytester.path / "histories")
    result = pytester.runpytest_subprocess("--replay", "histories", "-n", "2", "--replay-html=report.html")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        ["replaytest: wrote report.html (workflow task error: 1, 3 passed); open it in a browser: *"]
    )
    sections = page_data(pytester.path / "report.html")["sections"]
    assert sections[0]["verdict"]["outcome"] == "workflow_task_error"
    assert sorted(s["workflow_id"] for s in sections) == ["discount-7", "greet-ada", "order-42", "order-43"]
    assert all(s["timeline"] and s["timeline"]["events"] for s in sections)


def test_view_takes_module_colon_name_and_names_a_src_layouts_fix_like_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`replaytest view --module` reads modules as `replaytest replay --module` does: MODULE:NAME
    picks one workflow, and a package the run cannot import is named with its fix."""
    page = tmp_path / "page.html"
    out, err = io.StringIO(), io.StringIO()
    code = view_files(
        [str(HISTORIES / "order-42.json")], str(page), ["fixtures.workflows.orders:process_order"], out=out, err=err
    )
    assert (code, err.getvalue()) == (0, ""), err.getvalue()
    assert page_data(page)["sections"][0]["verdict"]["outcome"] == "passed"
    (tmp_path / "src" / "shopx").mkdir(parents=True)
    (tmp_path / "src" / "shopx" / "__init__.py").write_text("")
    monkeypatch.setattr(sys, "path", list(sys.path))  # view puts the working directory on it
    monkeypatch.chdir(tmp_path)
    err = io.StringIO()
    code = view_files([str(HISTORIES / "order-42.json")], str(page), ["shopx.orders"], out=io.StringIO(), err=err)
    assert code == 2
    assert err.getvalue() == (
        f"replaytest: error: cannot import module 'shopx.orders': no module named 'shopx'; shopx is in "
        f"{(tmp_path / 'src').resolve()}, which is not on sys.path: run replaytest with PYTHONPATH=src\n"
    )


def test_a_bare_base_exception_from_workflow_code_is_titled_without_a_dangling_colon() -> None:
    from replaytest.report.divergence import WorkflowTaskError
    from replaytest.view.verdict import verdict

    failed = WorkflowTaskError("order-1", KeyboardInterrupt(), None, {"type": "KeyboardInterrupt", "message": ""})
    assert verdict(failed, "h.json")["title"] == "workflow code raised KeyboardInterrupt"
    failed = WorkflowTaskError("order-1", ValueError("no sku"), None, {"type": "ValueError", "message": "no sku"})
    assert verdict(failed, "h.json")["title"] == "workflow code raised ValueError: no sku"
