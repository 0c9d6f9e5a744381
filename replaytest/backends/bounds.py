"""How one replay is kept from stopping the run: a time limit on workflow code that runs in the
caller's thread (SIGALRM), telling a real Ctrl-C from a ``KeyboardInterrupt`` the user's code
raised, what the replay last applied (for a timeout's message), and the verdict on a
``BaseException`` from the code. :func:`replaytest.backends.replay_entry` puts them together;
backends that bound replays themselves (Temporal's replay worker, AWS's handler threads) use
:func:`timeout_message` and :func:`progress` for the same one line."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ..report.divergence import ReplayTimeout, WorkflowTaskError

#: seconds one replay may take before it fails as stuck (--timeout / --replay-timeout /
#: replay_timeout): far above any healthy history (30,000 Temporal events replay in ~20 s)
DEFAULT_REPLAY_TIMEOUT = 300.0


def parse_timeout(text: object, flag: str) -> float | None:
    """A timeout option's value in seconds (None: no limit, written 0); a ValueError in one
    line naming ``flag`` for anything else."""
    try:
        seconds = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = -1.0
    if not (seconds >= 0 and seconds != float("inf")):  # also rejects nan
        raise ValueError(
            f"{flag} must be a number of seconds (0 for no limit), not {str(text)[:40]!r}; "
            f"the default is {DEFAULT_REPLAY_TIMEOUT:g}"
        )
    return seconds or None


def raised_by_code(workflow_id: str, workflow_type: str | None, e: BaseException, display: str) -> WorkflowTaskError:
    """A BaseException from the user's code as the verdict on this history alone."""
    from ..core.frames import exception_source, user_tb_frames

    source = exception_source(e)
    failure: dict[str, Any] = {"type": type(e).__name__, "message": str(e)}
    if source is not None:
        failure["source"] = {"file": source.path or source.file, "line": source.line, "function": source.function}
    failed = WorkflowTaskError(workflow_id, e, source, failure, frames=user_tb_frames(e))
    failed.workflow_type = workflow_type
    failed.history_source = display
    failed.notes.append(
        f"{type(e).__name__} is a BaseException: raised by the code, it fails this history only (the run goes on); "
        "workflow code should raise an Exception"
    )
    return failed


class Pressed:
    """Whether a real Ctrl-C (SIGINT) arrived while a replay ran (truthy then)."""

    def __init__(self) -> None:
        self.yes = False

    def __bool__(self) -> bool:
        return self.yes


@contextlib.contextmanager
def ctrl_c() -> Iterator[Pressed]:
    """Tell a real Ctrl-C from a KeyboardInterrupt the user's code raised: while the block runs
    (main thread, Python's own SIGINT handler in place), SIGINT is noted before it raises.
    Under someone else's SIGINT handler in the main thread, any KeyboardInterrupt may be a real
    one (it stops the run); outside the main thread none can be."""
    pressed = Pressed()
    main = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT) if main else None
    if handler is not signal.default_int_handler:
        # SIG_IGN or SIG_DFL: no SIGINT ever raises here; someone else's handler: it may
        pressed.yes = callable(handler)
        yield pressed
        return

    def interrupted(signum: int, frame: Any) -> None:
        pressed.yes = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


#: what the replay in this thread last applied, for a timeout's message (see :func:`progress`)
_progress = threading.local()


@contextlib.contextmanager
def progress(describe: Callable[[], str | None]) -> Iterator[None]:
    """While the block runs, ``describe()`` says what the replay in this thread last applied
    (e.g. "history event 6 (TaskCompleted #1)"); a replay that times out names it. Called only
    then, so a backend pays nothing per event."""
    previous = getattr(_progress, "describe", None)
    _progress.describe = describe
    try:
        yield
    finally:
        _progress.describe = previous


def last_applied() -> str | None:
    """What the replay in this thread last applied, if its backend says (see :func:`progress`)."""
    describe = getattr(_progress, "describe", None)
    try:
        return describe() if describe is not None else None
    except Exception:  # a report helper must never hide the timeout itself
        return None


def timeout_message(
    display: str, seconds: float, flag: str, stuck: object | None, applied: str | None, code: str = "workflow code"
) -> str:
    """The one line of a replay that did not finish: the file, the limit and its flag, where the
    code was running and what was last applied (when known)."""
    where = f" at {stuck}" if stuck else ""
    last = f"; last applied: {applied}" if applied else ""
    return (
        f"{display}: replay did not finish within {seconds:g} s ({flag}): the {code} is still running{where} "
        f"(an endless loop?){last}; replay runs no activity, timer or I/O, so a healthy history never takes this long"
    )


class Alarm(KeyboardInterrupt):
    """Raised by SIGALRM in the replaying thread. A KeyboardInterrupt, like Ctrl-C: workflow
    code's ``except Exception`` does not swallow it, and asyncio's tasks re-raise it instead of
    keeping it as the workflow's failure."""


@contextlib.contextmanager
def bounded(seconds: float | None, display: str, flag: str) -> Iterator[None]:
    """Fail a replay still running after ``seconds`` (workflow code in an endless loop) with a
    ReplayTimeout, for backends that run workflow code in the caller's thread. Uses SIGALRM, so
    only in the main thread and only when nobody else (pytest-timeout, the user) has an alarm
    set. A backend sets ``alarm_bound = False`` when it bounds replays itself (Temporal's replay
    worker, AWS's handler threads)."""
    if seconds is None:
        yield
        return
    usable = (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN, None)
        and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    )
    if not usable:
        yield
        return
    seen: dict[str, Any] = {}

    def ring(signum: int, frame: Any) -> None:
        from ..core.frames import user_source

        seen["stuck"], seen["applied"] = user_source(frame), last_applied()
        raise Alarm

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except Alarm:
        raise ReplayTimeout(timeout_message(display, seconds, flag, seen.get("stuck"), seen.get("applied"))) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
