"""Subprocess: DBOS (SQLite system database) running the same N-step workflow as the engine bench.

usage: python bench/_dbos_bench.py WORKDIR N     prints one JSON line ({"error": ...} if DBOS is missing)
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path


def main() -> None:
    work, n = Path(sys.argv[1]), int(sys.argv[2])
    try:
        from importlib.metadata import version

        from dbos import DBOS, DBOSConfig
    except Exception as e:
        print(json.dumps({"error": f"DBOS not importable ({type(e).__name__}: {e})"}))
        return
    logging.disable(logging.INFO)
    work.mkdir(parents=True, exist_ok=True)
    db = work / "dbos.sqlite"
    for p in work.glob("dbos.sqlite*"):
        p.unlink()
    config: DBOSConfig = {"name": "replaytest-bench", "system_database_url": f"sqlite:///{db}"}
    DBOS(config=config)

    @DBOS.step()
    def say_hello(name: str) -> str:
        return f"Hello, {name}!"

    @DBOS.workflow()
    def loop_activities(k: int) -> int:
        for i in range(k):
            say_hello(str(i))
        return k

    DBOS.launch()
    try:
        loop_activities(2)  # warm up
        t0 = time.perf_counter()
        assert loop_activities(n) == n
        wall = time.perf_counter() - t0
        import sqlite3

        c = sqlite3.connect(db)
        mode = c.execute("PRAGMA journal_mode").fetchone()[0]
        c.close()
    finally:
        DBOS.destroy()
    print(
        json.dumps(
            {
                "steps": n,
                "wall_s": wall,
                "steps_per_s": n / wall,
                "version": version("dbos"),
                "note": f"steps run inline in the workflow, each step's output committed to the SQLite system "
                f"database (journal_mode={mode}, synchronous=FULL, sqlite's default)",
            }
        )
    )


if __name__ == "__main__":
    main()
