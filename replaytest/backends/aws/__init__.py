"""The AWS Lambda durable functions backend: replay an exported execution history offline.

This module only sniffs and names histories; it never imports the AWS SDK (``replay`` does,
when a history is actually replayed), so a session without AWS histories pays nothing.
"""

from __future__ import annotations

from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...report.result import ReplayResult
from .. import Backend, Document, Entry, MissingSDK, ReplaySettings, sandbox_session
from . import history as _history

if TYPE_CHECKING:
    from ...view.model import Timeline

__all__ = ["BACKEND", "AwsBackend", "AwsOptions"]

NAME = "aws"


@dataclass(frozen=True)
class AwsOptions:
    """The options of AWS replays (declared for the command line in ``replaytest_options.aws``)."""

    handlers: tuple[str, ...] = ()  # [FUNCTION=]MODULE:ATTR, as given; parsed per history

    @classmethod
    def of(cls, settings: ReplaySettings) -> AwsOptions:
        return cls(tuple(settings.option(NAME, "handlers")))


class AwsBackend:
    name = NAME
    #: handler code runs on the SDK's threads, which SIGALRM cannot stop (and the SDK joins them):
    #: the replay bounds itself (see .bound)
    alarm_bound = False

    def claims(self, doc: Document) -> bool:
        return _history.looks_like(doc)

    def entries(self, path: Path, doc: Document) -> list[Entry]:
        """One entry per execution in the file: named after the execution (its name, else the
        tail of its ARN, else the file's stem), typed by the Lambda function when known."""
        out = []
        executions = _history.split_executions(doc)
        for index, execution in enumerate(executions):
            name, function = _peek(execution)
            if name is None:
                name = path.stem if len(executions) == 1 else f"{path.stem}-{index}"
            out.append(Entry(path, index, name, function, self.name))
        return out

    def __init__(self) -> None:
        # Executions loaded by validate(), each kept for the one replay() that follows it (the
        # CLI's --debug checks every file before it starts the debugger): loaded once, not twice.
        self._checked: dict[int, tuple[Document, str, list[Any], list[Any]]] = {}

    def validate(self, doc: Document, display: str) -> None:
        """Every execution in ``doc`` must load (HistoryFormatError otherwise); no SDK needed."""
        executions = _history.split_executions(doc)
        loaded = [_history.load(execution, display) for execution in executions]
        self._checked[id(doc)] = (doc, display, executions, loaded)

    def _take_checked(self, doc: Document, index: int, display: str) -> Any:
        """The history validate() loaded for entry ``index`` of this very document, once."""
        kept = self._checked.get(id(doc))
        if kept is None or kept[0] is not doc or kept[1] != display:
            return None
        now = _history.split_executions(doc)
        if len(now) != len(kept[2]) or any(a is not b for a, b in zip(now, kept[2])):  # pages edited: load again
            del self._checked[id(doc)]
            return None
        history, kept[3][index] = kept[3][index], None
        if not any(kept[3]):
            del self._checked[id(doc)]
        return history

    def timeline(self, entry: Entry, doc: Any, *, display: str) -> Timeline:
        """The page's timeline hook (replaytest.view.hook)."""
        from .timeline import timeline

        return timeline(doc, entry.index, display, entry.workflow_id)

    def session(self, settings: ReplaySettings) -> ContextManager[None]:
        return sandbox_session(settings)

    def replay(self, entry: Entry, doc: Document, settings: ReplaySettings, *, display: str) -> ReplayResult:
        try:
            from .replay import replay_document  # imports the SDK
        except ImportError as e:
            if "aws_durable_execution_sdk_python" not in str(e):
                raise
            raise MissingSDK(
                f"{display}: replaying an AWS Lambda durable execution needs the SDK it runs on: "
                "pip install '/path/to/replaytest[aws]' (aws-durable-execution-sdk-python; see docs/aws-lambda-durable.md)"
            ) from None

        return replay_document(
            doc,
            entry.index,
            settings,
            source=display,
            fallback_name=entry.workflow_id,
            history=self._take_checked(doc, entry.index, display),
        )


def _peek(execution: dict[str, Any]) -> tuple[str | None, str | None]:
    """(execution name, function name) without validating the whole document."""
    events = execution.get("Events") or []
    first = events[0] if events and isinstance(events[0], dict) else {}
    arn = execution.get("DurableExecutionArn") if isinstance(execution.get("DurableExecutionArn"), str) else None
    name = first.get("Name") if first.get("EventType") == "ExecutionStarted" else None
    if not isinstance(name, str) or not name:
        name = arn.rstrip("/").rsplit("/", 2)[-2] if arn and arn.count("/") >= 2 else None
    function = execution.get("FunctionName")
    if not isinstance(function, str):
        function = _history.function_from_arn(arn)
    return name, function


BACKEND: Backend = AwsBackend()
