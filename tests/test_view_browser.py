"""The history page as a person sees it, in a real headless Chromium: the divergence's event
and source line on screen, a click on a bar bringing its event into view, the filters, a
hostile history that cannot run script, and a 6,005-event history drawn on demand.

One browser for the module (``chromium`` fixture); each test opens its own page. Screenshots
land in the test's tmp_path (docs/ keeps a few, made the same way)."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.gen_history import write as write_history
from replaytest.cli.view import view_files
from tests.browser import Page, chromium

pytest_plugins = ["tests.dt_fixtures"]

ROOT = Path(__file__).resolve().parents[1]
HISTORIES = ROOT / "fixtures" / "histories"
PLUGIN_DATA = ROOT / "tests" / "data" / "plugin"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as context:
        yield context


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    pages: list[Page] = []

    def open_(path: Path) -> Page:
        pages.append(Page(browser, path))
        return pages[-1]

    yield open_
    for page in pages:
        assert page.errors == [], page.errors  # no script error, no blocked resource
        assert all(url.startswith("file:") for url in page.requests), page.requests  # nothing fetched
        page.close()


def view(tmp_path: Path, *paths: Path, modules: tuple[str, ...] = (), name: str = "page.html") -> Path:
    out = tmp_path / name
    code = view_files([str(p) for p in paths], str(out), modules, out=io.StringIO(), err=io.StringIO())
    assert out.exists(), code
    return out


def visible_text(page: Any, selector: str) -> str:
    return page.locator(selector).inner_text()


def test_a_divergence_shows_its_event_and_the_users_line(tmp_path: Path, open_page: Any) -> None:
    html = view(tmp_path, HISTORIES / "order-42.json", modules=("fixtures.broken.orders_v2",))
    p = open_page(html).page
    verdict = p.locator(".verdict")
    assert verdict.is_visible()
    assert "Nondeterminism at history event 11" in verdict.locator("h3").inner_text()
    # recorded vs issued side by side, the differing parts marked
    assert p.locator(".side.rec mark").first.inner_text().startswith("charge_card")
    assert p.locator(".side.iss mark").first.inner_text().startswith("send_confirmation")
    # the user's source line, highlighted among the lines around it
    assert "fixtures/broken/orders_v2.py:19 in process_order" in verdict.inner_text()
    hit = p.locator(".code .ln.hit")
    assert hit.is_visible() and "send_confirmation" in hit.inner_text()
    assert p.locator(".code .ln").count() >= 5
    # in the list: event 11 marked, the ten before it greyed as matched
    row = p.locator(".row.diverged")
    assert row.get_attribute("data-event") == "11"
    p.locator(".row.diverged").scroll_into_view_if_needed()
    assert row.is_visible() and "diverges here" in row.inner_text()
    assert p.locator(".row.matched").count() == 10
    # on the timeline: the divergence line and the charge_card bar outlined
    assert p.locator(".marker-line span").first.inner_text() == "diverges @11"
    assert p.locator(".bar.diverged").first.get_attribute("data-event") == "11"
    p.screenshot(path=str(tmp_path / "divergence.png"))


def test_a_click_on_a_bar_scrolls_the_list_to_its_event_in_a_6005_event_history(tmp_path: Path, open_page: Any) -> None:
    history = write_history("activities", 1000, tmp_path / "big.json", workflow_id="big-1")
    html = view(tmp_path, history)
    assert html.stat().st_size < 3 * history.stat().st_size  # the data once, no markup per event
    page = open_page(html)
    p = page.page
    assert "6005 events" in visible_text(p, ".hhead")
    # only what is on screen is in the DOM
    assert p.locator(".row").count() < 60
    assert p.locator(".lane").count() < 60
    # scroll the timeline to the 700th activity and click its bar
    p.locator(".lanes").evaluate("el => { el.scrollTop = 700 * 22; el.dispatchEvent(new Event('scroll')); }")
    bar = p.locator(".lane", has_text="activity 700").locator(".bar").first
    target = bar.get_attribute("data-event")
    assert target == str(5 + 6 * 699)  # ActivityTaskScheduled of activity 700
    bar.click()
    row = p.locator(f".row[data-event='{target}']")
    assert row.is_visible()
    assert "selected" in (row.get_attribute("class") or "")
    box, row_box = p.locator(".list").bounding_box(), row.bounding_box()
    assert box and row_box and box["y"] <= row_box["y"] and row_box["y"] + row_box["height"] <= box["y"] + box["height"]
    assert "say_hello" in visible_text(p, ".detail")
    p.screenshot(path=str(tmp_path / "big.png"))


def test_a_script_in_a_workflow_id_does_not_run(tmp_path: Path, open_page: Any) -> None:
    hostile = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script></script><!--'
    doc = json.loads((HISTORIES / "order-42.json").read_text())
    doc["events"][0]["attrs"]["workflow_id"] = hostile
    doc["events"][0]["attrs"]["workflow_type"] = "t</script><b>bold</b>"
    doc["events"][4]["attrs"]["activity_type"] = '"><svg onload="window.__pwned=3">'
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(doc))
    p = open_page(view(tmp_path, path)).page
    assert p.evaluate("window.__pwned") is None
    assert p.locator(".hhead .wid").inner_text() == hostile  # shown as text, exactly
    assert p.locator("main img, main svg, main b, main script").count() == 0
    p.locator(".lane-label", has_text="svg onload").first.wait_for()
    assert p.evaluate("window.__pwned") is None


def test_the_session_report_puts_failures_first_and_the_filter_hides_passing_ones(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, open_page: Any
) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-W ignore::pytest.PytestAssertRewriteWarning -p no:randomly")
    shutil.copy(PLUGIN_DATA / "order_workflows.py", pytester.path)
    shutil.copytree(PLUGIN_DATA / "histories", pytester.path / "histories")
    pytester.syspathinsert()
    code = (pytester.path / "order_workflows.py").read_text()
    edited = code.replace('order["id"], total)', 'order["id"], total + 1)', 1)
    assert edited != code
    (pytester.path / "order_workflows.py").write_text(edited)
    result = pytester.runpytest("--replay", "histories", "--replay-args=error", "--replay-html=out/report.html")
    result.stdout.fnmatch_lines(["replaytest: wrote out/report.html (*); open it in a browser: file://*"])
    p = open_page(pytester.path / "out" / "report.html").page
    sections = p.locator("section.history")
    outcomes = [sections.nth(i).get_attribute("data-outcome") for i in range(sections.count())]
    assert outcomes[-1] == "passed" and "passed" not in outcomes[:-1], outcomes  # failures first
    assert outcomes.count("divergence") == 2 and "workflow_task_error" in outcomes
    passing = p.locator("section.history[data-outcome='passed']")
    assert passing.is_visible()
    p.select_option("#f-verdict", "failed")
    assert not passing.is_visible()
    assert p.locator("section.history.failed").first.is_visible()
    p.select_option("#f-verdict", "all")
    p.fill("#f-text", "greet-ada")
    assert passing.is_visible() and p.locator("section.history.failed").first.is_hidden()
    p.fill("#f-text", "")
    p.select_option("#f-type", "checkout")
    shown = [s for s in p.locator("section.history").all() if s.is_visible()]
    assert {s.locator(".wtype").inner_text() for s in shown} == {"checkout"}
    assert "showing 2" in p.locator("#summary").inner_text()


def test_one_page_draws_a_history_of_each_backend(
    tmp_path: Path, temporal_histories: Path, dt_histories: Path, open_page: Any
) -> None:
    html = view(
        tmp_path,
        HISTORIES / "onboarding-7.json",
        temporal_histories / "client" / "order-1.json",
        ROOT / "tests" / "data" / "aws" / "pay-1.json",
        dt_histories / "export" / "order-1.jsonl.gz",
    )
    p = open_page(html).page
    sections = p.locator("section.history")
    assert sections.count() == 4
    for i in range(4):
        sections.nth(i).locator(".hhead").click()  # several histories: each opens on a click
    expected = {
        "native": ("onboarding-7", "38 events", "signal 'subscription'"),
        "temporal": ("order-1", "43 events", "child ShippingWorkflow · ship-1"),
        "aws": ("pay-1", "6 events", "step 'charge' ↻ 1 retry"),
        "durabletask": ("order-1", "28 events", "charge · #2 ↻ 1 retry"),
    }
    seen = []
    for i in range(4):
        s = sections.nth(i)
        backend = s.locator(".hhead .backend").inner_text()
        wid, count, lane = expected[backend]
        assert s.locator(".wid").inner_text() == wid and count in s.locator(".hhead").inner_text()
        assert s.locator(".lane-label", has_text=lane).first.is_visible()
        assert s.locator(".row").first.is_visible()
        seen.append(backend)
    assert sorted(seen) == sorted(expected)
    p.screenshot(path=str(tmp_path / "backends.png"), full_page=True)
