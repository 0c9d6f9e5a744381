"""One page section per history: the backend's timeline (read from the file) and the verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..backends import Entry, backend_for, read_document
from ..definitions import ReplaytestError
from ..history.io import write_atomically
from .hook import NoTimeline, timeline_of
from .page import render
from .verdict import OUTCOMES
from .verdict import verdict as verdict_of


def section(entry: Entry | None, doc: Any, display: str, verdict: dict[str, Any] | None) -> dict[str, Any]:
    """The section of one history; a history the backend cannot draw gets its reason instead
    of a timeline (the verdict, if any, still shows)."""
    out: dict[str, Any] = {
        "file": display,
        "index": entry.index if entry else 0,
        "backend": entry.backend if entry else "?",
        "workflow_id": (entry.workflow_id if entry else None) or Path(display).stem,
        "workflow_type": (entry.workflow_type if entry else None) or "",
        "timeline": None,
        "error": None,
        "verdict": verdict,
    }
    if entry is None or isinstance(doc, BaseException):
        out["error"] = str(doc) if isinstance(doc, BaseException) else "not a history"
        return out
    try:
        tl = timeline_of(backend_for(doc, display), entry, doc, display)
    except ReplaytestError as e:  # a file that is no usable history: its verdict, replayed or not
        out["error"] = str(e)
        out["verdict"] = verdict or verdict_of(e, display)
        return out
    except NoTimeline as e:  # nothing to draw; the history itself may be fine
        out["error"] = str(e)
        return out
    except Exception as e:  # a bug in a backend's hook: the page still shows the others
        out["error"] = (
            f"internal error drawing this history ({type(e).__name__}: {e}); please report it with this history file"
        )
        return out
    out.update(timeline=tl.to_data(), workflow_id=tl.workflow_id, workflow_type=tl.workflow_type)
    return out


def _outcome(section: dict[str, Any]) -> str:
    outcome: str = (section.get("verdict") or {}).get("outcome", "not_replayed")
    return outcome


def failures_first(sections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def rank(s: dict[str, Any]) -> int:
        return 1 if _outcome(s) in ("passed", "not_replayed") else 0

    return sorted(sections, key=rank)  # stable: the run's order within each group


def write_page(sections: list[dict[str, Any]], path: str | Path, title: str) -> Path:
    """Write the page atomically; OSError for a path that cannot be written."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, render(failures_first(sections), title))
    return path


def tally_text(sections: list[dict[str, Any]]) -> str:
    """``2 passed, divergence: 3`` for the line that says where the page is."""
    counts: dict[str, int] = {}
    for s in failures_first(sections):
        outcome = _outcome(s)
        counts[outcome] = counts.get(outcome, 0) + 1
    return ", ".join(f"{n} passed" if o == "passed" else f"{OUTCOMES.get(o, o)}: {n}" for o, n in counts.items())


def record(path: Path, display: str, index: int, verdict: dict[str, Any]) -> dict[str, Any]:
    """What a pytest worker sends for one replay (in the report's user_properties): small, the
    controller reads the history file again for the timeline."""
    return {"path": str(path), "display": display, "index": index, "verdict": verdict}


def session_sections(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A section per record, each file read once, in the order the replays ran."""
    docs: dict[str, Any] = {}
    out = []
    for r in records:
        path, display = Path(r["path"]), r["display"]
        if r["path"] not in docs:
            try:
                doc = read_document(path, display)
                docs[r["path"]] = (doc, backend_for(doc, display).entries(path, doc))
            except ReplaytestError as e:
                docs[r["path"]] = (e, [])
        doc, entries = docs[r["path"]]
        entry = next((e for e in entries if e.index == r["index"]), None)
        out.append(section(entry, doc, display, r["verdict"]))
    return out


def write_session_page(records: list[dict[str, Any]], path: Path, shown: str) -> str:
    """Write a pytest session's page; the line the terminal summary prints (never raises for a
    path that cannot be written: the session's own verdicts stand)."""
    sections = session_sections(records)
    try:
        write_page(sections, path, f"replaytest · {len(sections)} replayed histories")
    except OSError as e:
        return f"replaytest: --replay-html {shown}: cannot write it ({e.strerror or e}); choose another path"
    tally = tally_text(sections) or "no histories replayed"
    return f"replaytest: wrote {shown} ({tally}); open it in a browser: {path.resolve().as_uri()}"
