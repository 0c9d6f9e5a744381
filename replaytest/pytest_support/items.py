"""History files as pytest items: one item per history, named after its workflow id.

Every failure a user can cause (a bad file, an unknown workflow, a divergence, workflow code
that raises) is reported as a failing item with replaytest's own message, never as a
traceback through this module or a collection error that would stop other histories.
"""

from __future__ import annotations

import dataclasses
import os
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..backends import AmbiguousFormat, Entry, MissingSDK, backend_for, read_document, replay_entry
from ..definitions import DuplicateWorkflowWarning, ReplaytestError
from ..history import HistoryFormatError
from ..modules import ModuleImportError
from ..report.divergence import NondeterminismError, ReplayTimeout, UnknownWorkflowError, WorkflowTaskError
from ..report.render import workflow_task_report
from ..report.result import ReplayResult, ReplayWarning
from ..report.source import display_path
from ..report.text import safe, safe_lines
from .settings import module_errors, report_missed_breaks, sessions, settings

#: Errors that are a verdict about the history or the workflow code, not a bug to trace.
VERDICTS = (
    HistoryFormatError,
    NondeterminismError,
    WorkflowTaskError,
    ReplaytestError,
    ReplayWarning,
    DuplicateWorkflowWarning,
)  # the warnings: raised under -W error


class Replay:
    """One replay of one history, remembered so its failure can be explained afterwards."""

    def __init__(
        self,
        path: Path,
        config: pytest.Config,
        entry: Entry | None = None,
        document: Callable[[], Any] | None = None,
        **overrides: Any,
    ) -> None:
        """``entry`` is the history in the file (collection found it); ``document`` returns the
        file's parsed JSON (a file of several histories is read once for all its items)."""
        self.path, self.config, self.entry, self.overrides = path, config, entry, overrides
        self.display = safe(display_path(str(path)))
        self.document = document or (lambda: read_document(self.path, self.display))
        self.workflow_type: str | None = None
        self.result: ReplayResult | None = None

    def run(self) -> ReplayResult:
        __tracebackhide__ = True
        s = settings(self.config)
        if failure := module_errors(self.config):
            raise ModuleImportError(failure)
        if self.overrides:
            workflows = list(self.overrides.pop("workflows", ()))
            s = dataclasses.replace(s, extra_workflows=workflows, **self.overrides)
        doc = self.document()
        entry = self.entry or backend_for(doc, self.display).entries(self.path, doc)[0]
        self.workflow_type = entry.workflow_type
        self.result = replay_entry(entry, doc, s, sessions(self.config), self.display)
        report_missed_breaks(self.config, self.display, self.result.events_replayed)
        for message in self.result.warnings:
            filename, line = _located(message, self.display)
            warnings.warn_explicit(
                ReplayWarning(safe(f"{self.result.workflow_id}: {message}")), ReplayWarning, filename, line
            )
        return self.result

    def properties(self, error: BaseException | None) -> list[tuple[str, Any]]:
        """user_properties: what the summary line counts (also lands in JUnit XML and crosses
        xdist with the report, so no process-global counter is needed), and under
        --replay-html the verdict the page shows."""
        props = self._counted(error)
        if self.config.getoption("replay_html", None):
            from ..view.sections import record
            from ..view.verdict import verdict

            result = error if error is not None else self.result
            index = self.entry.index if self.entry else 0
            props.append(("replay_view", record(self.path, self.display, index, verdict(result, self.display))))
        return props

    def _counted(self, error: BaseException | None) -> list[tuple[str, Any]]:
        if error is None and self.result is not None:
            return [("replay_outcome", "passed"), ("replay_events", self.result.events_replayed)]
        outcome = {
            NondeterminismError: "divergence",
            WorkflowTaskError: "workflow_task_error",
            UnknownWorkflowError: "unknown_workflow",
            HistoryFormatError: "invalid_history",
            ModuleImportError: "module_import",
            ReplayTimeout: "timeout",
            MissingSDK: "missing_sdk",
        }
        kind = next((v for k, v in outcome.items() if isinstance(error, k)), "error")
        events = 0
        if isinstance(error, NondeterminismError):
            events = error.divergence.matched
        elif isinstance(error, WorkflowTaskError) and error.event_id:
            events = error.event_id - 1
        return [("replay_outcome", kind), ("replay_events", events)]

    def explain(self, error: BaseException) -> str:
        """The failure report for one of VERDICTS."""
        if isinstance(error, WorkflowTaskError):
            return workflow_task_report(error, self.workflow_type or "?")
        if isinstance(error, HistoryFormatError):
            return f"invalid history file {error}"
        return safe_lines(str(error).split("\n"))


_AT = re.compile(r"\bat (\S+?):(\d+) in [\w<>.]+\)?$")


def _located(message: str, history: str) -> tuple[str, int]:
    """Where pytest's warnings summary puts a replay warning: the user's line the message
    names (``at app/orders.py:28 in checkout``), else the history file's first line."""
    m = _AT.search(message)
    return (m.group(1), int(m.group(2))) if m else (history, 1)


class HistoryFile(pytest.File):
    """One history JSON file; it yields one item per history in it, named after the workflow id."""

    _doc: Any = None
    _unfinished = 0  # items of this file that have not run yet: the parsed file is dropped after the last

    @classmethod
    def from_parent(cls, parent: Any, **kwargs: Any) -> HistoryFile:
        """The file's node id and name escaped like any history text: a newline, CR or ESC in a
        file name would otherwise reach ``-v`` lines, JUnit XML (where ESC is not even legal)
        and every item's node id raw."""
        node = super().from_parent(parent, **kwargs)
        if safe(node.nodeid) == node.nodeid and safe(node.name) == node.name:
            return node
        return super().from_parent(parent, nodeid=safe(node.nodeid), name=safe(node.name), **kwargs)

    def collect(self) -> Iterator[pytest.Item]:
        ambiguous: AmbiguousFormat | None = None
        try:
            doc = read_document(self.path)
            entries = backend_for(doc, display_path(str(self.path))).entries(self.path, doc)
        except Exception as e:  # a file that cannot be read still becomes an item: running it says why
            entries = [Entry(self.path, 0, None, None, "native")]
            ambiguous = e if isinstance(e, AmbiguousFormat) else None
        self._unfinished = len(entries)
        seen: dict[str, int] = {}
        for entry in entries:
            # an item name is a node id, an env var (PYTEST_CURRENT_TEST), JUnit XML and xdist
            # traffic: escape what cannot be printed or encoded (a lone surrogate, a newline)
            name = safe(entry.workflow_id or self.path.stem).replace("::", ":")
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:
                name = f"{name}[{seen[name]}]"
            item = HistoryItem.from_parent(self, name=name)
            item.entry = entry
            item.ambiguous = ambiguous
            item.add_marker(pytest.mark.replay(str(self.path)))
            if entry.workflow_type:
                item.extra_keyword_matches.add(entry.workflow_type)  # -k order_flow selects by workflow type
            yield item

    def document(self) -> Any:
        """The file's JSON, read and parsed again at run time (collection does not hold every
        file's document at once) and kept until the file's last item has run."""
        if self._doc is None:
            display = safe(display_path(str(self.path)))
            self._doc = read_document(self.path, display)
        return self._doc

    def item_done(self) -> None:
        self._unfinished -= 1
        if self._unfinished <= 0:
            self._doc = None


class HistoryItem(pytest.Item):
    """Replays one history against the current workflow code."""

    entry: Entry | None = None
    ambiguous: AmbiguousFormat | None = None  # found at collection: the item fails with it

    def runtest(self) -> None:
        __tracebackhide__ = True
        file = self.parent
        assert isinstance(file, HistoryFile)
        self._replay = Replay(self.path, self.config, self.entry, file.document)
        error: BaseException | None = None
        try:
            if self.ambiguous is not None:
                raise self.ambiguous
            self._replay.run()
        except BaseException as e:
            error = e
            raise
        finally:
            file.item_done()
            self.user_properties.extend(self._replay.properties(error))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        replay_ = getattr(self, "_replay", None)
        if replay_ is not None and isinstance(excinfo.value, VERDICTS):
            return replay_.explain(excinfo.value)
        return super().repr_failure(excinfo, style=style)  # a bug: show the whole traceback

    def reportinfo(self) -> tuple[os.PathLike[str] | str, int | None, str]:
        shown = safe(display_path(str(self.path)))  # also JUnit's file attribute
        return shown, None, f"replay {shown}::{self.name}"


def replay_marked(request: pytest.FixtureRequest) -> tuple[ReplayResult | None, str | None]:
    """Body of the ``replayed`` fixture: (the result, None) or (None, the failure report). A
    failed replay fails the *test* (via the plugin's pytest_pyfunc_call) with the report,
    rather than erroring its setup."""
    node = request.node
    marker = node.get_closest_marker("replay")
    if marker is None or not marker.args:
        pytest.fail(
            'the `replayed` fixture needs @pytest.mark.replay("path/to/history.json") on the test', pytrace=False
        )
    path = Path(marker.args[0])
    if not path.is_absolute():
        path = request.config.rootpath / path
    if not path.is_file():
        pytest.fail(
            f"@pytest.mark.replay({marker.args[0]!r}): no history file at {path} "
            "(marker paths are relative to the rootdir)",
            pytrace=False,
        )
    r = Replay(path, request.config, **dict(marker.kwargs))
    try:
        result = r.run()
    except VERDICTS as e:
        node.user_properties.extend(r.properties(e))
        return None, r.explain(e)
    node.user_properties.extend(r.properties(None))
    return result, None
