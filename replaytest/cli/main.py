"""The ``replaytest`` command: run workflows on the embedded engine, inspect and export their
histories, and replay histories against the current code.

Exit codes: 0 success; 1 a workflow failed or is stuck, or a replay diverged; 2 a usage
mistake (bad arguments, unknown module or workflow id), reported as one line on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import shlex
import signal as signals
import sys
from collections.abc import Callable, Sequence
from datetime import UTC
from pathlib import Path
from typing import Any

from replaytest_options import Command
from replaytest_options import declared as backend_options

from ..definitions import ReplaytestError, to_payload
from ..history import History, file_name_for, schema_text
from ..modes import ArgsMode, SandboxMode
from .parser import UsageError, build_parser, given_backend_options

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _json_arg(text: str, option: str) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(
            f"{option} is not valid JSON ({e.msg} at column {e.colno}): {text!r}; "
            f"quote it for the shell, e.g. {option} '{{\"id\": 42}}'"
        ) from None
    return to_payload(value, option)  # e.g. "\\ud800": valid JSON, but not text a history can hold


def main(argv: Sequence[str] | None = None) -> int:
    """The ``replaytest`` program (``argv`` None: the command line). A run that loaded
    temporalio ends with ``os._exit`` once its output is flushed: temporalio's Core threads can
    call into Python while the interpreter finalizes, which aborts it (SIGABRT "PyGILState_Release
    … finalizing", or SIGSEGV) after every line was printed -- 1 run in ~40 of a short Temporal
    history here, the reason ``pull`` does the same. Called with ``argv`` (in-process), it returns."""
    code = _run(argv)
    if argv is None and "temporalio" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _run(argv: Sequence[str] | None) -> int:
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # MODULE:WORKFLOW imports like `python -m`
    try:
        words = sys.argv[1:] if argv is None else list(argv)
        args = build_parser(words).parse_args(words)
        chosen = getattr(args, "backend_command", None)
        return (_backend_command(chosen) if chosen is not None else commands()[args.command])(args)
    except (UsageError, ReplaytestError) as e:
        print(f"replaytest: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("replaytest: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `replaytest replay … | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error at exit
        return EXIT_OK
    except SystemExit as e:  # --help, a usage error (argparse exits with an int); anything else is no success
        return e.code if isinstance(e.code, int) else EXIT_OK if e.code is None else EXIT_USAGE


# ---------------------------------------------------------------------------- engine commands
def _engine(args: argparse.Namespace, clock: Any = "real", must_exist: bool = True, **options: Any) -> Any:
    """The engine on ``--db`` (real clock by default: a run a virtual clock moved ahead keeps its
    own timeline, since the store never records an event earlier than a run's last one)."""
    from ..engine import DEFAULT_DB, Engine

    path = args.db or DEFAULT_DB
    if must_exist and not Path(path).exists():
        raise UsageError(
            f"no engine database at {path}; start a workflow first (`replaytest run ...`) or pass --db PATH"
        )
    return Engine(path, clock=clock, **options)


def _start(engine: Any, args: argparse.Namespace) -> Any:
    from ..modules import import_target

    fn = import_target(args.workflow)
    engine.register(sys.modules[fn.__module__])
    inputs = [_json_arg(text, "--input") for text in args.input]
    if not inputs:
        import inspect

        params = [p for p in inspect.signature(fn).parameters.values() if p.default is inspect.Parameter.empty]
        if params:
            raise UsageError(
                f"workflow {args.workflow} takes {', '.join(p.name for p in params)}: "
                f"pass each argument as --input JSON"
            )
    return engine.start(fn, *inputs, id=args.id, id_reuse_policy=args.id_reuse_policy)


def _setup_logging(level: int, with_time: bool = False) -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="[%(asctime)s] %(message)s" if with_time else "%(message)s",
        datefmt="%H:%M:%S",
    )


def cmd_run(args: argparse.Namespace) -> int:
    from datetime import datetime

    from ..engine import VirtualClock, WorkflowBlockedError, WorkflowFailedError

    _setup_logging(logging.INFO if args.verbose else logging.WARNING)
    # a virtual clock of this run's own, from now: other workflows' timelines do not move it
    clock = "real" if args.real_time else VirtualClock(start=datetime.now(UTC))
    with _engine(args, clock=clock, must_exist=False) as engine:
        handle = _start(engine, args)
        try:
            result = handle.result()
        except WorkflowFailedError as e:
            print(f"replaytest: {e}", file=sys.stderr)
            return EXIT_FAILED
        except WorkflowBlockedError as e:
            print(f"replaytest: {e}", file=sys.stderr)
            return EXIT_FAILED
        print(json.dumps(result, indent=2, ensure_ascii=False))
        print(
            f"{handle.id}: completed ({len(handle.history())} events); "
            f"`{_command('show', handle.id, db=args.db)}` prints its history",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_start(args: argparse.Namespace) -> int:
    with _engine(args, must_exist=False) as engine:
        handle = _start(engine, args)
        module = args.workflow.partition(":")[0]  # MODULE:WORKFLOW as the user typed it
        print(
            f"started {handle.id} (run {handle.run_id}); run it with "
            f"`{_command('worker', '--module', module, db=args.db)}`"
        )
    return EXIT_OK


def _command(*argv: str, db: str | None = None) -> str:
    """A replaytest command line for a hint, shell-quoted so it pastes unchanged (ids may hold
    spaces, slashes, quotes), with the --db the user gave."""
    return shlex.join(["replaytest", *argv, *(["--db", db] if db else [])])


def cmd_worker(args: argparse.Namespace) -> int:
    if not (args.lease_seconds > 0 and args.lease_seconds != float("inf")):  # also rejects nan
        raise UsageError(
            f"--lease-seconds must be a positive number of seconds, not {args.lease_seconds:g} "
            "(how long a claimed task stays this worker's without renewal; default 30)"
        )
    _setup_logging(logging.WARNING if args.quiet else logging.INFO, with_time=True)
    if not 0 < args.deadlock_timeout < float("inf"):
        raise UsageError(
            f"--deadlock-timeout must be a positive number of seconds, not {args.deadlock_timeout:g} "
            "(how long workflow code may run without yielding; default 2)"
        )
    with _engine(
        args,
        clock="virtual" if args.virtual_clock else "real",
        must_exist=False,
        lease_seconds=args.lease_seconds,
        deadlock_timeout=args.deadlock_timeout,
    ) as engine:
        engine.register(*args.module)
        _install_stop_handlers(engine)  # before the line below: once it is printed, SIGTERM stops the worker
        log = logging.getLogger("replaytest.engine")
        log.info(
            "worker %s on %s (%s clock): workflows %s; activities %s",
            engine.worker.identity,
            engine.path,
            "virtual" if args.virtual_clock else "real",
            ", ".join(sorted(engine.registry.workflows)) or "none",
            ", ".join(sorted(engine.registry.activities)) or "none",
        )
        if args.until_idle and not args.virtual_clock:
            engine.worker.waiting_hint = "--until-idle waits for it (Ctrl-C stops; --virtual-clock would skip ahead)"
        stats = engine.work(until_idle=True) if args.until_idle else engine.run_worker()
        running = engine.list("running")
        log.info("worker stopped: %s; %d workflow(s) still running", stats, len(running))
    return EXIT_OK


def _install_stop_handlers(engine: Any) -> None:
    """SIGTERM / first Ctrl-C: finish the activities in flight, then exit. Second Ctrl-C: now."""

    def graceful(signum: int, frame: Any) -> None:
        logging.getLogger("replaytest.engine").warning(
            "stopping after the activities in flight (Ctrl-C again to abort)"
        )
        signals.signal(signals.SIGINT, engine.worker.interrupt)  # raises KeyboardInterrupt, even in workflow code
        engine.stop()

    signals.signal(signals.SIGTERM, graceful)
    signals.signal(signals.SIGINT, graceful)


def cmd_signal(args: argparse.Namespace) -> int:
    payload = _json_arg(args.payload, "--payload")
    with _engine(args) as engine:
        engine.signal(args.id, args.name, payload)
        print(f"signalled {args.id}: {args.name} {json.dumps(payload, ensure_ascii=False)}")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    with _engine(args) as engine:
        infos = engine.list(args.status)
        if not infos:
            print(f"no {args.status + ' ' if args.status else ''}workflows in {engine.path}")
            return EXIT_OK
        for line in workflow_table(infos):
            print(line)
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    with _engine(args) as engine:
        info = engine.describe(args.id, args.run)
        lines = timeline(info, engine.history(args.id, info.run_id), engine.store.tasks_of(info.run_id))
        others = [r.run_id for r in engine.runs(args.id) if r.run_id != info.run_id]
        if others:  # ids reused under --id-reuse-policy: say the other runs exist and how to reach them
            lines[0] += (
                f"; {len(others)} {'other' if args.run else 'older'} run{'s' if len(others) > 1 else ''}: "
                + ", ".join(others)
                + f" (`replaytest show {shlex.quote(args.id)} --run RUN_ID`)"
            )
        for line in lines:
            print(line)
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    if bool(args.id) == bool(args.all or (args.status and not args.id)):  # --status alone means all with it
        raise UsageError("export needs a workflow ID or --all (or --status alone; not an ID with --all)")
    if args.run and not args.id:
        raise UsageError("export --run needs the workflow ID the run belongs to")
    with _engine(args) as engine:
        ids = [args.id] if args.id else [i.workflow_id for i in engine.list(args.status)]
        if args.id and args.status:  # that one if it matches: a typo or another status is said, not skipped
            info = engine.describe(args.id, args.run)  # an unknown id: the error export gives without --status
            if not info.has_status(args.status):
                print(
                    f"{args.id} is {info.status}, not {args.status}: nothing exported (without --status it is)",
                    file=sys.stderr,
                )
                return EXIT_FAILED
        one_file = bool(args.id) and args.output.endswith(".json") and not Path(args.output).is_dir()
        kept = []
        for workflow_id in ids:
            target = Path(args.output) if one_file else Path(args.output) / file_name_for(workflow_id)
            if not args.id and not args.force and target.exists():  # --all: the others are still written
                kept.append(target.name)
                continue
            print(_save(engine.history(workflow_id, args.run), target, args.output, force=args.force))
        if kept:
            shown = ", ".join(kept[:5]) + (f", … ({len(kept) - 5} more)" if len(kept) > 5 else "")
            it = "it" if len(kept) == 1 else "them"
            print(
                f"kept {_count(len(kept), 'existing file')} in {args.output} (--force replaces {it}): {shown}",
                file=sys.stderr,
            )
        if not ids:
            print(f"no workflows to export from {engine.path}", file=sys.stderr)
    return EXIT_OK


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _save(history: History, target: Path, output: str, force: bool) -> Path:
    """Write one exported history; a file in the way (an existing one is replaced only with
    --force: it may be a committed history, or another run of the id) or a path that cannot be
    written is one line."""
    if target.exists() and not force:
        raise UsageError(f"{target} already exists; pass --force to overwrite it, or choose another -o")
    if Path(output).exists() and not Path(output).is_dir() and target != Path(output):
        raise UsageError(f"-o {output} is a file, not a directory; name a new FILE.json to export one history to it")
    try:
        return history.save(target)
    except OSError as e:
        raise UsageError(f"cannot write {output}: {e.strerror or e}; choose another -o") from None


def cmd_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(schema_text())
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from .replay import replay_files

    debug = None
    if args.debug is not None or args.break_at or args.break_on:
        from ..debug import DebugOptions

        debug = DebugOptions.from_cli(
            args.debug,
            break_at=args.break_at,
            break_on=args.break_on,
            allow_remote=args.debug_allow_remote,
            timeout=args.debug_timeout,
            allow_remote_flag="--debug-allow-remote",
            timeout_flag="--debug-timeout",
        )
    return replay_files(
        args.paths,
        args.module,
        args_mismatch=ArgsMode(args.args) if args.args else None,
        sandbox=SandboxMode(args.sandbox),
        debug=debug,
        backend_options=given_backend_options(args),
        timeout=_timeout(args),
    )


def cmd_view(args: argparse.Namespace) -> int:
    from .view import view_files

    return view_files(
        args.paths,
        args.output,
        args.module,
        args_mismatch=ArgsMode(args.args) if args.args else None,
        sandbox=SandboxMode(args.sandbox),
        backend_options=given_backend_options(args),
        timeout=_timeout(args),
    )


def _timeout(args: argparse.Namespace) -> float | None:
    from ..backends import DEFAULT_REPLAY_TIMEOUT, parse_timeout

    try:
        return parse_timeout(DEFAULT_REPLAY_TIMEOUT if args.timeout is None else args.timeout, "--timeout")
    except ValueError as e:
        raise UsageError(str(e)) from None


def _backend_command(command: Command) -> Callable[[argparse.Namespace], int]:
    """A backend's command, imported when it runs (its module may need the platform's SDK)."""

    def run(args: argparse.Namespace) -> int:
        module_name, _, function = command.run.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            missing = (e.name or "").split(".")[0]
            if not missing or missing in ("replaytest", "replaytest_options"):
                raise  # a bug in replaytest or the backend, not a missing extra
            raise UsageError(f"`replaytest {command.name}` needs {missing}: {command.install}") from None
        code: int = getattr(module, function)(args)
        return code

    return run


def cmd_vscode(args: argparse.Namespace) -> int:
    from ..debug.vscode import CONFIG_NAME, vscode_config, write_launch_json

    config = vscode_config(port=args.port)
    if args.print_only:
        print(json.dumps(config, indent=4))
        return EXIT_OK
    done = write_launch_json(args.path, config)
    kept = "" if done == "created" else "; other configurations and comments are kept"
    print(f'{args.path}: {done} the "{CONFIG_NAME}" configuration (port {args.port}){kept}')
    print(
        "next: `replaytest replay H.json --module M --debug` or `pytest --replay H.json --replay-debug`, "
        f'then Run and Debug → "{CONFIG_NAME}" in VS Code'
    )
    return EXIT_OK


# ---------------------------------------------------------------------------- output
def status_text(info: Any) -> str:
    """``running (task failing, attempt N)`` for a workflow whose task keeps failing."""
    if info.task_failure and info.task_attempt:
        return f"{info.status} (task failing, attempt {info.task_attempt - 1})"
    return str(info.status)


def workflow_table(infos: Sequence[Any]) -> list[str]:
    from ..engine.errors import describe_failure
    from ..report.text import safe

    rows = [("WORKFLOW ID", "TYPE", "STATUS", "STARTED", "EVENTS", "")]
    for i in infos:
        note = ""
        if i.task_failure:
            note = describe_failure(i.task_failure)  # the status column already says the task is failing
        # ids and failures are anyone's text: one escaped line per workflow, never a forged row
        rows.append(
            (safe(i.workflow_id), safe(i.workflow_type), status_text(i), i.started_at, str(i.events), safe(note))
        )
    widths = [max(len(r[c]) for r in rows) for c in range(5)]
    return ["  ".join(r[c].ljust(widths[c]) for c in range(5)).rstrip() + (f"  {r[5]}" if r[5] else "") for r in rows]


def timeline(info: Any, history: History, tasks: Sequence[Any]) -> list[str]:
    """One line per event (id, time, what happened); failures with their source line."""
    from ..engine.clock import from_ms
    from ..engine.errors import describe_failure
    from ..history import format_time
    from ..history.describe import describe_event
    from ..report import source_line
    from ..report.text import safe

    lines = [
        f"{info.workflow_id} ({info.workflow_type}) {status_text(info)} — run {info.run_id}, {len(history)} events"
    ]
    width = len(str(len(history)))
    for e in history.events:
        text = describe_event(e)
        failure = e.attrs.get("failure") if e.type in ("WorkflowTaskFailed", "WorkflowExecutionFailed") else None
        if failure:
            text = f"{e.type} {describe_failure(failure)}"
        lines.append(f"{e.id:>{width + 2}}  {e.time}  {text}")
        if failure and (code := source_line(failure)):
            lines.append(f"{'':>{width + 2}}  {'':24}      {code}")
    for t in tasks:
        what = {
            "workflow": f"workflow task (attempt {t.attempt})",
            "activity": f"activity {t.name} (attempt {t.attempt})",
            "timer": f"timer {t.name}",
        }[t.kind]
        held = f", running on {t.lease_owner}" if t.lease_owner else ""
        lines.append(f"pending: {what} due {format_time(from_ms(t.due_ms))}{held}")
    return [safe(line) for line in lines]  # ids and payloads are anyone's text: never a forged line


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": cmd_run,
    "start": cmd_start,
    "worker": cmd_worker,
    "signal": cmd_signal,
    "list": cmd_list,
    "show": cmd_show,
    "export": cmd_export,
    "schema": cmd_schema,
    "replay": cmd_replay,
    "view": cmd_view,
    "vscode": cmd_vscode,
}


def commands() -> dict[str, Callable[[argparse.Namespace], int]]:
    """replaytest's own commands and those the installed backends add."""
    added = {c.name: _backend_command(c) for declared in backend_options() for c in declared.commands}
    return {**COMMANDS, **added}
