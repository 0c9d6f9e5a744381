"""Shared helpers of the bench: paths, the history cache, timing, machine facts."""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
TEMPORAL_DIR_CANDIDATES = [ROOT.parent / "shared" / "temporal-bench", Path("/work/shared/temporal-bench")]
PY = sys.executable

for p in (str(ROOT), str(BENCH)):
    if p not in sys.path:
        sys.path.insert(0, p)

import gen_history


def temporal_dir() -> Path | None:
    env = os.environ.get("REPLAYTEST_TEMPORAL_BENCH")
    for d in ([Path(env)] if env else []) + TEMPORAL_DIR_CANDIDATES:
        if (d / "gen_loop_history.py").exists():
            return d
    return None


def cache_dir() -> Path:
    """Generated histories, keyed by the generators' source so a changed generator regenerates."""
    h = hashlib.sha1((BENCH / "gen_history.py").read_bytes())
    td = temporal_dir()
    if td is not None:
        h.update((td / "gen_loop_history.py").read_bytes())
    d = RESULTS / "cache" / h.hexdigest()[:10]
    if not d.exists():
        if d.parent.exists():  # files of an older generator
            for old in d.parent.iterdir():
                shutil.rmtree(old, ignore_errors=True)
        d.mkdir(parents=True, exist_ok=True)
    return d


def history_path(kind: str, n: int) -> Path:
    p = cache_dir() / f"replaytest-{kind}-{n}.json"
    if not p.exists():
        tmp = p.with_suffix(".tmp")
        gen_history.write(kind, n, tmp)
        tmp.replace(p)
    return p


def temporal_history_path(kind: str, n: int) -> Path | None:
    td = temporal_dir()
    if td is None:
        return None
    p = cache_dir() / f"temporal-{kind}-{n}.json"
    if not p.exists():
        spec = importlib.util.spec_from_file_location("gen_loop_history", td / "gen_loop_history.py")
        mod = importlib.util.module_from_spec(spec)
        assert spec.loader is not None
        spec.loader.exec_module(mod)
        tmp = p.with_suffix(".tmp")
        tmp.write_text(json.dumps(mod.gen(kind, n)))
        tmp.replace(p)
    return p


def load_trusted(data: bytes, source: str = "<bench>"):
    """History.from_dict without the schema validation: for sizes where jsonschema would take
    minutes. Every generated file is checked with an exact validator by the bench itself."""
    from replaytest.history import Event, History

    doc = json.loads(data)
    return History([Event(e["id"], e["time"], e["type"], e["attrs"]) for e in doc["events"]], source=source)


def timed(fn: Callable[[], Any], collect: bool = True) -> tuple[float, Any]:
    if collect:
        gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def run_json(cmd: list[str], timeout: float = 600, cwd: str | Path | None = None, env: dict | None = None) -> dict:
    """Run a helper that prints one JSON object as its last stdout line."""
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if p.returncode != 0 or not lines:
        return {"error": f"exit {p.returncode}: {(p.stderr or p.stdout)[-800:]}"}
    return json.loads(lines[-1])


def package_version(name: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return None


def machine() -> dict[str, Any]:
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "loadavg_at_start": load,
        "versions": {
            n: package_version(n)
            for n in (
                "replaytest",
                "jsonschema",
                "jsonschema-rs",
                "freezegun",
                "pytest",
                "pytest-xdist",
                "temporalio",
                "dbos",
            )
        },
    }


def fmt_rate(x: float | None) -> str:
    if x is None:
        return "—"
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.0f}"


def fmt_s(x: float | None) -> str:
    if x is None:
        return "—"
    if x >= 1:
        return f"{x:.2f} s"
    if x >= 1e-3:
        return f"{x * 1e3:.1f} ms"
    return f"{x * 1e6:.0f} µs"


def fmt_ratio(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:.{digits}f}×"
