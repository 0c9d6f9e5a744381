"""Subprocess: peak memory of loading and replaying one history (a fresh process per size).

usage: python bench/_memory.py PATH KIND N SANDBOX(strict|none)
Reports the file size and resident set sizes (ru_maxrss and /proc/self/statm) at each stage.
Loading skips jsonschema (see _common.load_trusted), whose cost at these sizes is minutes and
whose memory is not what is measured here.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
from pathlib import Path


def rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def peak() -> int:
    """Peak RSS since the last reset_peak() (VmHWM), else since the process started."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def reset_peak() -> bool:
    """Linux: writing 5 to clear_refs resets the peak RSS, so start-up peaks do not count."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def main() -> None:
    path, kind, n, mode = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]
    import gen_history
    from _common import load_trusted

    from bench import workflows as W
    from replaytest import replay

    # warm up on a tiny history: imports, the first sandbox session, caches — not this history's cost
    tiny = load_trusted(gen_history.to_json(gen_history.events(kind, 2)).encode())
    replay(tiny, [W], sandbox=None if mode == "none" else mode)
    del tiny
    gc.collect()
    peak_reset = reset_peak()
    base_rss = rss()
    data = path.read_bytes()
    h = load_trusted(data, str(path))
    del data
    gc.collect()
    loaded_rss = rss()
    r = replay(h, [W], sandbox=None if mode == "none" else mode)
    assert r.status == "completed" and r.output == n, r
    after_rss, after_peak = rss(), peak()
    print(
        json.dumps(
            {
                "file_bytes": path.stat().st_size,
                "events": len(h),
                "base_rss": base_rss,
                "loaded_rss_delta": loaded_rss - base_rss,
                "peak_rss_delta": after_peak - base_rss,
                "after_replay_rss_delta": after_rss - base_rss,
                "peak_reset": peak_reset,
            }
        )
    )


if __name__ == "__main__":
    main()
