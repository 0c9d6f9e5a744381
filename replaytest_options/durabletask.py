"""The Durable Task backend's command line: which orchestrator replays a history
(``--replay-handler NAME=MODULE:ATTR``, shared with AWS), ``replaytest pull --durabletask``,
and the export job's ``*.jsonl.gz`` files."""

from __future__ import annotations

import argparse

from . import BackendOptions, Command, Option

STATUSES = ("running", "completed", "failed", "terminated", "continued_as_new", "pending", "suspended")


def _pull_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="directory for the history files")
    p.add_argument(
        "--address",
        required=True,
        metavar="HOST:PORT",
        help="the Durable Task backend's gRPC endpoint (the Durable Task Scheduler emulator, a Dapr "
        "sidecar, the SDK's in-memory backend), plain gRPC",
    )
    p.add_argument("--taskhub", default=None, metavar="NAME", help="the task hub (sent as the taskhub header)")
    p.add_argument(
        "--status", action="append", choices=STATUSES, default=[], help="only instances in this status (repeatable)"
    )
    p.add_argument("--instance", action="append", default=[], metavar="ID", help="this instance (repeatable)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="at most N instances")


OPTIONS = BackendOptions(
    "durabletask",
    options=(
        Option(
            dest="handlers",
            cli="--handler",
            pytest="--replay-handler",
            metavar="[NAME=]MODULE:ATTR",
            help="Durable Task: with NAME=, the orchestrator function replaying histories of orchestrator "
            "NAME (one registered with add_named_orchestrator); unset, the function named as the "
            "history's orchestrator in the --replay-module modules.",
            cli_help="Durable Task: NAME=MODULE:ATTR, the orchestrator function for orchestrator NAME",
            ini_help="Durable Task orchestrators as NAME=MODULE:ATTR (like --replay-handler).",
        ),
    ),
    commands=(
        Command(
            name="pull",
            help="write histories from a Durable Task backend to DIR/<instance-id>.json (needs replaytest[durabletask])",
            arguments=_pull_arguments,
            run="replaytest.backends.durabletask.pull:command",
            install="pip install '/path/to/replaytest[durabletask]' (a clone or a built wheel: see docs/temporal.md)",
            switch="--durabletask",
        ),
    ),
    files=(".jsonl.gz",),
)
