"""The end-of-session summary line: histories replayed, events, divergences and the rest,
counted from each report's user_properties (so it works across xdist workers)."""

from __future__ import annotations

from typing import Any


def summary_line(stats: dict[str, list[Any]]) -> str:
    counts: dict[str, int] = {}
    events = 0
    for reports in stats.values():
        for rep in reports:
            if getattr(rep, "when", None) != "call":
                continue
            props = {p[0]: p[1] for p in rep.user_properties if isinstance(p, (tuple, list)) and len(p) == 2}
            if "replay_outcome" not in props:
                continue
            counts[props["replay_outcome"]] = counts.get(props["replay_outcome"], 0) + 1
            events += int(props.get("replay_events", 0))
    replayed = sum(counts.get(k, 0) for k in ("passed", "divergence", "workflow_task_error"))
    divergences = counts.get("divergence", 0)
    parts = [
        f"{replayed} {_plural(replayed, 'history', 'histories')} replayed ({events} events)",
        f"{divergences} {_plural(divergences, 'divergence', 'divergences')}",
    ]
    for key, one, many in (
        ("workflow_task_error", "workflow task error", "workflow task errors"),
        ("unknown_workflow", "unknown workflow", "unknown workflows"),
        ("invalid_history", "invalid history file", "invalid history files"),
        ("timeout", "replay timed out", "replays timed out"),
        (
            "module_import",
            "history not replayed: a replay module does not import",
            "histories not replayed: a replay module does not import",
        ),
        (
            "missing_sdk",
            "history not replayed: its SDK is not installed",
            "histories not replayed: their SDK is not installed",
        ),
        ("error", "other error", "other errors"),
    ):
        if counts.get(key):
            parts.append(f"{counts[key]} {_plural(counts[key], one, many)}")
    return "replaytest: " + ", ".join(parts)


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many
