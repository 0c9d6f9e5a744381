"""The Temporal backend's command, ``replaytest pull`` (histories from a Temporal server), and its
option: the workflows each task queue's worker registers (``--replay-task-queue``)."""

from __future__ import annotations

import argparse

from . import BackendOptions, Command, Option


def _pull_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="directory for the history files")
    p.add_argument(
        "--address",
        default=None,
        metavar="HOST:PORT",
        help="the Temporal frontend (default: TEMPORAL_ADDRESS / the Temporal config file, else "
        "localhost:7233); TLS and API key come from TEMPORAL_TLS* / TEMPORAL_API_KEY",
    )
    p.add_argument("--namespace", default=None, help="namespace (default: TEMPORAL_NAMESPACE, else default)")
    p.add_argument(
        "--query",
        default=None,
        metavar="QUERY",
        help="visibility query, e.g. 'ExecutionStatus=\"Failed\"' (default: every execution)",
    )
    p.add_argument("--limit", type=int, default=None, metavar="N", help="at most N executions")
    p.add_argument(
        "--per-type",
        type=int,
        default=None,
        metavar="N",
        help="keep the newest N executions (by start time) of each workflow type",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing files (default: keep them)")


OPTIONS = BackendOptions(
    "temporal",
    options=(
        Option(
            dest="task_queues",
            cli="--task-queue",
            pytest="--replay-task-queue",
            metavar="QUEUE=MODULE[:CLASS]",
            help="Temporal: replay the histories of task queue QUEUE with the workflows its worker "
            "registers (MODULE's, or just CLASS). Repeatable, also for one queue; added to the "
            "replay_task_queues ini list. Queues not named use --replay-module.",
            cli_help="Temporal: replay the histories of task queue QUEUE with the workflows its worker registers "
            "(repeatable); queues not named use --module",
            ini_help="Temporal task queues' workflows, one QUEUE=MODULE[:CLASS] per line (like --replay-task-queue).",
            ini_type="linelist",
        ),
    ),
    commands=(
        Command(
            name="pull",
            help="write histories from a Temporal server to DIR/<workflow-id>.json (needs replaytest[temporal])",
            arguments=_pull_arguments,
            run="replaytest.backends.temporal.pull:command",
            install="pip install '/path/to/replaytest[temporal]' (a clone or a built wheel: see docs/temporal.md)",
        ),
    ),
)
