"""What users declare: workflow and activity definitions, retry policies, application errors.

Also the one rule about payloads: they are JSON values. Every value that crosses into or out
of workflow code goes through :func:`to_payload`, live and on replay alike, so workflow code
sees exactly the same values in both (a tuple becomes a list in both places, not just on
replay).
"""

from __future__ import annotations

import inspect
import json
import math
import types
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, overload


class ReplaytestError(Exception):
    """Base class of the errors replaytest raises for user mistakes."""


class PayloadError(ReplaytestError, TypeError):
    """A value that must be stored in the history is not plain JSON."""


#: The largest payload (an input, result, signal payload or side-effect value), measured as its
#: JSON text: 2 MiB, Temporal's default limit for one payload. A bigger one fails where it is
#: made -- an activity attempt, the workflow line that passes it -- instead of being written into
#: every history that carries it and read back by every replay.
MAX_PAYLOAD_BYTES = 2 * 1024 * 1024


def _too_big(what: str, size: int) -> None:
    raise PayloadError(
        f"{what} is {size / 2**20:.1f} MB as JSON, over the payload limit of {MAX_PAYLOAD_BYTES // 2**20} MB "
        "(Temporal's default too); pass a reference to the data (a file path, an object-store key) instead"
    )


def _same_after_json(value: Any) -> bool:
    """A value the JSON round trip gives back as it is: None, a bool, an int of 64 bits, a finite
    float, a short ASCII string (exact types: a subclass may encode differently)."""
    kind = type(value)
    if kind is str:
        return len(value) <= 4096 and value.isascii()
    if kind is int:
        return bool(-(1 << 63) <= value < 1 << 63)
    if kind is float:
        return math.isfinite(value)
    return value is None or kind is bool


def to_payload(value: Any, what: str) -> Any:
    """Round-trip ``value`` through JSON so live code sees what replay will see.

    The text must also be valid Unicode: histories are UTF-8 files and SQLite stores UTF-8,
    so a lone surrogate (``"\\ud800"``, e.g. from ``os.fsdecode`` of bad bytes) is refused here,
    where the value is issued, instead of failing later where it is stored. The common case (a
    few arguments that are strings and numbers) skips the round trip: it would give them back
    unchanged (a new list, as the round trip makes one)."""
    if type(value) is list and len(value) <= 64 and all(map(_same_after_json, value)):
        return list(value)
    if _same_after_json(value):
        return value
    try:
        if isinstance(value, str) and len(value) > MAX_PAYLOAD_BYTES:  # no need to encode 300 MB to know
            _too_big(what, len(value))
        text = json.dumps(value, allow_nan=False)
        if len(text) > MAX_PAYLOAD_BYTES:
            _too_big(what, len(text))
        if "\\ud" in text:  # a character outside the BMP (a valid pair) or a lone surrogate: tell them apart
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        return json.loads(text)
    except PayloadError:
        raise
    except UnicodeEncodeError as e:
        bad = e.object[e.start : e.end]
        raise PayloadError(
            f"{what} contains a lone surrogate ({bad!r}, not valid Unicode); payloads are stored as UTF-8 "
            "JSON text, so decode bytes with errors='replace' or pass them as base64"
        ) from None
    except RecursionError:
        raise PayloadError(f"{what} is nested too deeply to store as JSON") from None
    except (TypeError, ValueError) as e:
        raise PayloadError(
            f"{what} is not plain JSON ({e}); payloads are stored in the history as JSON, "
            "so pass dicts, lists, strings, numbers, booleans or None"
        ) from None


def _finite(value: int | float) -> bool:
    """A finite number that is also a float (an int of 400 digits is neither a duration nor a factor)."""
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


#: the longest duration a timer, timeout or retry interval may have: 100 years. Longer ones
#: (or infinity) have no due time the engine can store, and no workflow means them.
MAX_SECONDS = 100 * 365 * 86400.0

#: nothing may be due after this (timers, retries, a virtual clock): history times end with
#: the year 9999, and a clock past it could not write another event
LAST_DUE = datetime(9999, 1, 1, tzinfo=UTC)


def seconds(value: timedelta | float | int | None, what: str) -> float | None:
    """A duration in seconds, checked where the user passes it (so a bad one fails at that line)."""
    kind = type(value)
    if (kind is float or kind is int) and 0 <= value <= MAX_SECONDS:  # type: ignore[operator]
        return float(value)  # type: ignore[arg-type]  # the common case: what the checks below pass
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
        raise ReplaytestError(f"{what} must be a timedelta or a number of seconds ≥ 0, not {value!r}")
    if not _finite(value):
        raise ReplaytestError(f"{what} must be a finite number of seconds, not {value!r}")
    if value > MAX_SECONDS:
        raise ReplaytestError(f"{what} must be at most 100 years ({MAX_SECONDS:.0f} s), not {value!r}")
    return float(value)


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed activity is retried: delay = initial_interval × backoff_coefficient^(n-1),
    capped at maximum_interval; maximum_attempts 0 means unlimited."""

    initial_interval: timedelta | float = 1.0
    backoff_coefficient: float = 2.0
    maximum_interval: timedelta | float = 100.0
    maximum_attempts: int = 0
    non_retryable_error_types: list[str] | tuple[str, ...] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The policy as history stores it, validated (called where the activity is scheduled)."""
        d = asdict(self)
        d["initial_interval"] = seconds(self.initial_interval, "RetryPolicy initial_interval")
        d["maximum_interval"] = seconds(self.maximum_interval, "RetryPolicy maximum_interval")
        coefficient = self.backoff_coefficient
        if (
            not isinstance(coefficient, (int, float))
            or isinstance(coefficient, bool)
            or not _finite(coefficient)
            or coefficient < 1
        ):
            raise ReplaytestError(f"RetryPolicy backoff_coefficient must be a finite number ≥ 1, not {coefficient!r}")
        attempts = self.maximum_attempts
        if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 0:
            raise ReplaytestError(
                f"RetryPolicy maximum_attempts must be an integer ≥ 0 (0: unlimited), not {attempts!r}"
            )
        d["non_retryable_error_types"] = list(self.non_retryable_error_types)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RetryPolicy:
        return cls(**d)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        d = self.to_dict()
        initial: float = d["initial_interval"]
        cap: float = d["maximum_interval"]
        if initial == 0:
            return 0.0
        try:  # float power: an int coefficient would build a huge integer; past ~1,000 attempts it overflows
            grown = initial * float(d["backoff_coefficient"]) ** (attempt - 1)
        except OverflowError:
            grown = math.inf
        return min(grown, cap)


class ApplicationError(Exception):
    """An error with a type name that retry policies and workflows can match on.

    Raised from an activity it fails that attempt (retried unless ``non_retryable`` or its
    type is listed in the policy). Raised from a workflow it fails the workflow, recorded as
    WorkflowExecutionFailed — unlike any other exception, which fails only the workflow task.
    """

    def __init__(self, message: str, *, type: str | None = None, non_retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.type = type or "ApplicationError"
        self.non_retryable = non_retryable


class ActivityError(Exception):
    """What workflow code catches when an activity failed for good (retries exhausted,
    non-retryable, or timed out). ``type`` and ``message`` come from the last failure."""

    def __init__(self, activity_type: str, failure: dict[str, Any], timed_out: bool = False) -> None:
        self.activity_type = activity_type
        self.failure = failure
        self.type = failure.get("type", "Error")
        self.message = failure.get("message", "")
        self.timed_out = timed_out
        what = "timed out" if timed_out else "failed"
        super().__init__(f"activity {activity_type} {what}: {self.type}: {self.message}")


@dataclass(frozen=True)
class WorkflowDefinition:
    name: str
    fn: Callable[..., Any]

    @property
    def module(self) -> str:
        return f"{self.fn.__module__}:{self.fn.__qualname__}"


@dataclass(frozen=True)
class ActivityDefinition:
    name: str
    fn: Callable[..., Any]
    is_async: bool


#: a decorated function keeps its own type: a user's type checker still checks its calls
F = TypeVar("F", bound=Callable[..., Any])


@overload
def workflow_defn(fn: F, /) -> F: ...
@overload
def workflow_defn(*, name: str | None = None) -> Callable[[F], F]: ...
def workflow_defn(fn: F | None = None, *, name: str | None = None) -> F | Callable[[F], F]:
    def mark(f: F) -> F:
        if not inspect.iscoroutinefunction(f):
            raise ReplaytestError(f"@workflow.defn needs an `async def` function; {f.__qualname__} is not one")
        f.__replaytest_workflow__ = WorkflowDefinition(name or f.__name__, f)  # type: ignore[attr-defined]
        return f

    return mark(fn) if fn is not None else mark


@overload
def activity_defn(fn: F, /) -> F: ...
@overload
def activity_defn(*, name: str | None = None) -> Callable[[F], F]: ...
def activity_defn(fn: F | None = None, *, name: str | None = None) -> F | Callable[[F], F]:
    def mark(f: F) -> F:
        f.__replaytest_activity__ = ActivityDefinition(name or f.__name__, f, inspect.iscoroutinefunction(f))  # type: ignore[attr-defined]
        return f

    return mark(fn) if fn is not None else mark


def workflow_definition(obj: Any) -> WorkflowDefinition | None:
    return getattr(obj, "__replaytest_workflow__", None)


def activity_definition(obj: Any) -> ActivityDefinition | None:
    return getattr(obj, "__replaytest_activity__", None)


def activity_name(obj: Any) -> str:
    if isinstance(obj, str):
        return obj
    d = activity_definition(obj)
    if d is None:
        raise ReplaytestError(
            f"{getattr(obj, '__qualname__', obj)!r} is not an activity; decorate it with @activity.defn"
        )
    return d.name


class DuplicateWorkflowWarning(UserWarning):
    """Two different functions register one workflow type: the later one is used."""


def add_workflow(
    workflows: dict[str, WorkflowDefinition],
    defn: WorkflowDefinition,
    conflicts: dict[str, list[WorkflowDefinition]] | None = None,
) -> None:
    """Register ``defn`` by type name, warning when another module's function already has it
    (``app.orders`` and ``saas.orders`` both defining ``process_order``): which one runs must never
    be a silent accident of registration order. With ``conflicts``, both are recorded there instead."""
    old = workflows.get(defn.name)
    if old is not None and old.fn.__module__ != defn.fn.__module__:  # one file's versions are deliberate
        if conflicts is not None:  # the caller refuses to choose (replay: a verdict must not hang on order)
            conflicts.setdefault(defn.name, [old]).append(defn)
            return
        warnings.warn(
            DuplicateWorkflowWarning(
                f"two workflows of type {defn.name!r}: {old.module} and {defn.module}; the later one, {defn.module}, "
                f"is used. Register only one, or give one another name with @workflow.defn(name=...)"
            ),
            stacklevel=3,
        )
    workflows[defn.name] = defn


def collect(
    items: Iterable[Any], conflicts: dict[str, list[WorkflowDefinition]] | None = None
) -> tuple[dict[str, WorkflowDefinition], dict[str, ActivityDefinition]]:
    """Workflows and activities from functions and/or modules (every decorated member)."""
    workflows: dict[str, WorkflowDefinition] = {}
    activities: dict[str, ActivityDefinition] = {}
    for item in items:
        members = vars(item).values() if isinstance(item, types.ModuleType) else [item]
        found = False
        for m in members:
            if (w := workflow_definition(m)) is not None:
                add_workflow(workflows, w, conflicts)
                found = True
            if (a := activity_definition(m)) is not None:
                activities[a.name] = a
                found = True
        if not found and not isinstance(item, types.ModuleType):
            raise ReplaytestError(f"{item!r} is neither a workflow (@workflow.defn) nor an activity (@activity.defn)")
    return workflows, activities
