"""The AWS Lambda durable backend's option: which ``@durable_execution`` handler replays."""

from __future__ import annotations

from . import BackendOptions, Option

OPTIONS = BackendOptions(
    "aws",
    options=(
        Option(
            dest="handlers",
            cli="--handler",
            pytest="--replay-handler",
            metavar="[FUNCTION=]MODULE:ATTR",
            help="the @durable_execution handler that replays AWS Lambda durable execution histories "
            "(repeatable; added to the replay_handlers ini list). With FUNCTION= only for "
            "histories of that Lambda function; without, for every AWS history. Unset: the one "
            "durable handler in the --replay-module modules.",
            cli_help="the @durable_execution handler for AWS Lambda durable histories (repeatable; "
            "FUNCTION= limits it to that Lambda function's histories)",
            ini_help="AWS durable handlers as [FUNCTION=]MODULE:ATTR (like --replay-handler).",
        ),
    ),
)
