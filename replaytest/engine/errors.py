"""Errors the engine raises to its caller; each message says what to do next."""

from __future__ import annotations

import shlex
from typing import Any

from ..definitions import ApplicationError, ReplaytestError


def describe_failure(failure: dict[str, Any]) -> str:
    """``Type: first line of the message at file:line`` — one line for logs and listings."""
    lines = (failure.get("message") or "").splitlines()
    src = failure.get("source")
    where = f" at {src['file']}:{src['line']}" if src else ""
    return f"{failure.get('type')}: {lines[0] if lines else ''}{where}"


class EngineError(ReplaytestError):
    """A mistake in how the engine is used (unknown id, duplicate id, bad input)."""


class WorkflowAlreadyRunningError(EngineError):
    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        super().__init__(
            f"workflow id {workflow_id!r} is already running; wait for it to finish "
            "(`replaytest worker --until-idle`) or start with another id"
        )


class WorkflowIdReuseError(EngineError):
    """The workflow id already has a closed run and the id reuse policy forbids another
    (by default: a workflow id names one piece of business work, done once)."""

    def __init__(self, workflow_id: str, status: str, workflow_type: str, run_id: str, policy: str) -> None:
        self.workflow_id, self.status, self.run_id, self.policy = workflow_id, status, run_id, policy
        only_failed = (
            " (which allows a new run only after a failed one)" if policy == "allow_duplicate_failed_only" else ""
        )
        super().__init__(
            f"workflow id {workflow_id!r} was already used by a run that {status} ({workflow_type}, run {run_id}); "
            f"the id reuse policy is {policy}{only_failed}. Start with another id, or allow a new run under this id: "
            f"--id-reuse-policy allow-duplicate (Python: id_reuse_policy='allow_duplicate'); "
            f"older runs stay readable with `replaytest show {shlex.quote(workflow_id)} --run RUN_ID`"
        )


class WorkflowNotFoundError(EngineError):
    def __init__(self, workflow_id: str, where: str) -> None:
        self.workflow_id = workflow_id
        super().__init__(f"no workflow with id {workflow_id!r} in {where}; `replaytest list` shows the ids it has")


class WorkflowFailedError(ApplicationError):
    """The workflow ended in WorkflowExecutionFailed; ``type``/``message`` are its failure's."""

    def __init__(self, workflow_id: str, failure: dict[str, Any]) -> None:
        super().__init__(failure.get("message", ""), type=failure.get("type"), non_retryable=True)
        self.workflow_id, self.failure = workflow_id, failure

    def __str__(self) -> str:
        return f"workflow {self.workflow_id} failed: {self.type}: {self.message}"


class WorkflowBlockedError(EngineError):
    """Nothing can run and the workflow has not finished: it waits for a signal, or its
    workflow task keeps failing, or its activities are not registered on this worker."""

    def __init__(self, workflow_id: str, reason: str) -> None:
        self.workflow_id, self.reason = workflow_id, reason
        super().__init__(f"workflow {workflow_id} cannot make progress: {reason}")


class DatabaseError(EngineError):
    """The engine database itself failed (malformed, read-only, not ours): not a workflow's fault."""


class DatabaseLockedError(DatabaseError):
    """Another process held the database's write lock longer than the lock timeout; a worker
    waits and tries again, a command reports it."""

    def __init__(self, path: str, waited: float) -> None:
        self.path, self.waited = path, waited
        super().__init__(
            f"the engine database {path} is locked by another process (waited {waited:g} s for its "
            "write lock); try again when that process is done, or set REPLAYTEST_LOCK_TIMEOUT to wait longer"
        )
