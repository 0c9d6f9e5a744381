"""A small Debug Adapter Protocol client: what VS Code does when it attaches to debugpy.

Messages are JSON bodies framed by a ``Content-Length: N\\r\\n\\r\\n`` header. A reader thread
files every incoming message: responses by the ``request_seq`` they answer, events in arrival
order. Every wait is bounded, so a test that goes wrong fails instead of hanging.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any


class DAPError(AssertionError):
    """A request failed, a wait timed out, or the connection closed."""


class DAPClient:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.seq = 0
        self.lock = threading.Condition()
        self.responses: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.closed = False
        self.reader = threading.Thread(target=self._read_loop, name="dap-reader", daemon=True)
        self.reader.start()

    # ------------------------------------------------------------------ connecting
    @classmethod
    def connect(cls, host: str, port: int, timeout: float = 10.0) -> DAPClient:
        """Connect, retrying until ``timeout`` (the adapter may still be starting)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection((host, port), timeout=2.0)
            except OSError as e:
                if time.monotonic() > deadline:
                    raise DAPError(f"could not connect to the debug adapter at {host}:{port} within {timeout} s") from e
                time.sleep(0.05)
                continue
            sock.settimeout(None)  # the reader blocks; waits below are bounded by conditions
            return cls(sock)

    def close(self) -> None:
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def __enter__(self) -> DAPClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ framing
    def _read_loop(self) -> None:
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                header, buf = buf.split(b"\r\n\r\n", 1)
                length = None
                for line in header.decode("ascii").split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                if length is None:
                    raise DAPError(f"a DAP message without Content-Length: {header!r}")
                while len(buf) < length:
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                body, buf = buf[:length], buf[length:]
                self._file(json.loads(body.decode("utf-8")))
        except OSError:
            return
        finally:
            with self.lock:
                self.closed = True
                self.lock.notify_all()

    def _file(self, message: dict[str, Any]) -> None:
        with self.lock:
            if message.get("type") == "response":
                self.responses[message["request_seq"]] = message
            elif message.get("type") == "event":
                self.events.append(message)
            self.lock.notify_all()

    def send(self, command: str, arguments: dict[str, Any] | None = None) -> int:
        with self.lock:
            self.seq += 1
            seq = self.seq
        message: dict[str, Any] = {"seq": seq, "type": "request", "command": command}
        if arguments is not None:
            message["arguments"] = arguments
        body = json.dumps(message).encode("utf-8")
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return seq

    # ------------------------------------------------------------------ waiting
    def _wait(self, what: str, found: Callable[[], Any], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                value = found()
                if value is not None:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DAPError(
                        f"timed out after {timeout} s waiting for {what}; events so far: "
                        f"{[e.get('event') for e in self.events]}"
                    )
                if self.closed:
                    raise DAPError(f"the debug adapter closed the connection while waiting for {what}")
                self.lock.wait(min(remaining, 0.2))

    def response(self, seq: int, timeout: float = 10.0) -> dict[str, Any]:
        message = self._wait(f"the response to request {seq}", lambda: self.responses.get(seq), timeout)
        if not message.get("success"):
            raise DAPError(f"{message.get('command')} failed: {message.get('message')} {message.get('body')}")
        return message.get("body") or {}

    def request(self, command: str, arguments: dict[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
        return self.response(self.send(command, arguments), timeout)

    def event(
        self, name: str, timeout: float = 10.0, after: int = 0, where: Callable[[dict[str, Any]], bool] = lambda e: True
    ) -> dict[str, Any]:
        """The first event called ``name`` at index ``after`` or later of all events received."""

        def found() -> dict[str, Any] | None:
            for e in self.events[after:]:
                if e.get("event") == name and where(e):
                    return e
            return None

        return self._wait(f"the {name!r} event", found, timeout)

    def mark(self) -> int:
        """An index for ``event(after=...)``: only events arriving from now on."""
        with self.lock:
            return len(self.events)

    # ------------------------------------------------------------------ VS Code's attach sequence
    def attach(
        self,
        breakpoints: dict[str, list[int]] | None = None,
        *,
        just_my_code: bool = True,
        extra: dict[str, Any] | None = None,
        exception_filters: tuple[str, ...] = ("uncaught",),
        timeout: float = 15.0,
    ) -> dict[str, Any]:
        """initialize → attach → `initialized` → setBreakpoints → configurationDone.

        Returns the setBreakpoints responses by path."""
        self.request(
            "initialize",
            {
                "clientID": "vscode",
                "clientName": "replaytest tests",
                "adapterID": "debugpy",
                "pathFormat": "path",
                "linesStartAt1": True,
                "columnsStartAt1": True,
                "supportsVariableType": True,
                "supportsRunInTerminalRequest": False,
            },
            timeout=timeout,
        )
        arguments: dict[str, Any] = {
            "name": "Attach to replaytest",
            "type": "debugpy",
            "request": "attach",
            "justMyCode": just_my_code,
        }
        arguments.update(extra or {})
        attach_seq = self.send("attach", arguments)
        self.event("initialized", timeout=timeout)
        answers = {}
        for path, lines in (breakpoints or {}).items():
            answers[path] = self.request(
                "setBreakpoints",
                {"source": {"path": path}, "breakpoints": [{"line": n} for n in lines]},
                timeout=timeout,
            )
        # VS Code's defaults: stop on uncaught exceptions only
        self.request("setExceptionBreakpoints", {"filters": list(exception_filters)}, timeout=timeout)
        self.request("configurationDone", timeout=timeout)
        self.response(attach_seq, timeout=timeout)
        return answers

    # ------------------------------------------------------------------ inspecting a stop
    def stopped(self, timeout: float = 20.0, after: int = 0) -> dict[str, Any]:
        return self.event("stopped", timeout=timeout, after=after)["body"]

    def frames(self, thread_id: int) -> list[dict[str, Any]]:
        return self.request("stackTrace", {"threadId": thread_id, "startFrame": 0, "levels": 50})["stackFrames"]

    def locals(self, frame_id: int) -> dict[str, dict[str, Any]]:
        scopes = self.request("scopes", {"frameId": frame_id})["scopes"]
        ref = next(s["variablesReference"] for s in scopes if s["name"] == "Locals")
        return {v["name"]: v for v in self.request("variables", {"variablesReference": ref})["variables"]}

    def evaluate(self, expression: str, frame_id: int, context: str = "watch") -> str:
        return self.request("evaluate", {"expression": expression, "frameId": frame_id, "context": context})["result"]

    def continue_(self, thread_id: int) -> None:
        self.request("continue", {"threadId": thread_id})

    def next(self, thread_id: int) -> None:
        self.request("next", {"threadId": thread_id})
