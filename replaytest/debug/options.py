"""Debug options: where the debug server listens (loopback unless the user explicitly allows
a remote address), how long to wait for the IDE, and where to stop."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..definitions import ReplaytestError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5678
BREAK_ON_KINDS = ("divergence",)


class DebugError(ReplaytestError):
    """The debug session cannot start: a refused bind, a port in use, no debugpy, bad options."""


class DebugTimeout(DebugError):
    """No IDE attached within ``DebugOptions.timeout`` seconds."""


# ---------------------------------------------------------------------------------- options
@dataclass
class DebugOptions:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT  # 0: any free port (the announced line says which)
    allow_remote: bool = False  # required for a host that is not a loopback address
    timeout: float | None = None  # seconds to wait for the IDE; None or 0: wait forever
    break_at: list[int] = field(default_factory=list)  # history event ids
    break_on_divergence: bool = False
    #: the option that sets allow_remote, named in the refusal message
    allow_remote_flag: str = "--replay-debug-allow-remote"
    #: the option that sets timeout, named in the timeout message
    timeout_flag: str = "--replay-debug-timeout"

    @classmethod
    def from_cli(
        cls,
        address: str | bool | None = None,
        *,
        break_at: Iterable[int | str] = (),
        break_on: Iterable[str] = (),
        allow_remote: bool = False,
        timeout: float | str | None = None,
        allow_remote_flag: str = "--replay-debug-allow-remote",
        timeout_flag: str = "--replay-debug-timeout",
    ) -> DebugOptions:
        """Options from command-line values: ``address`` is "HOST:PORT", "PORT", "HOST" or
        empty/None/True for the default 127.0.0.1:5678; ``break_on`` accepts "divergence"."""
        host, port = parse_address(address)
        ids = []
        for n in break_at:
            try:
                ids.append(int(n))
            except (TypeError, ValueError):
                raise DebugError(f"--break-at {n!r}: expected a history event id (a number)") from None
        divergence = False
        for kind in break_on:
            if kind not in BREAK_ON_KINDS:
                raise DebugError(f"--break-on {kind!r}: the only kind is 'divergence'")
            divergence = True
        if isinstance(timeout, str):
            try:
                timeout = float(timeout)
            except ValueError:
                raise DebugError(f"{timeout_flag} {timeout!r}: expected a number of seconds") from None
        options = cls(
            host,
            port,
            allow_remote,
            timeout or None,
            ids,
            divergence,
            allow_remote_flag=allow_remote_flag,
            timeout_flag=timeout_flag,
        )
        options.check()
        return options

    def check(self) -> None:
        """Raise DebugError for options that must not start a server (nothing is started)."""
        if not isinstance(self.port, int) or not 0 <= self.port < 65536:
            raise DebugError(f"debug port {self.port!r}: expected a number from 0 to 65535")
        if self.timeout is not None and self.timeout < 0:
            raise DebugError(f"{self.timeout_flag} {self.timeout}: expected a positive number of seconds")
        for n in self.break_at:
            if not isinstance(n, int) or n < 1:
                raise DebugError(f"--break-at {n!r}: history event ids start at 1")
        if not self.allow_remote and not is_loopback(self.host):
            raise DebugError(
                f"binding the debug server to {self.host} lets anyone who can reach this port run code on "
                f"your machine; pass {self.allow_remote_flag} if you mean it"
            )


def parse_address(
    spec: str | bool | None, default_host: str = DEFAULT_HOST, default_port: int = DEFAULT_PORT
) -> tuple[str, int]:
    """ "HOST:PORT", "PORT", "HOST", "[IPv6]:PORT" or empty → (host, port)."""
    if spec is None or spec is True or (isinstance(spec, str) and not spec.strip()):
        return default_host, default_port
    s = str(spec).strip()
    if "/" in s or os.sep in s or s.endswith((".json", ".py")):
        # `pytest --replay-debug histories/` makes argparse take the path as the address
        raise DebugError(
            f"debug address {spec!r} looks like a path: write the address with = "
            "(--debug=HOST:PORT), or put the flag after the paths"
        )
    host, port_text = default_host, ""
    if s.startswith("["):  # [::1]:5678 or [::1]
        end = s.find("]")
        if end < 0:
            raise DebugError(f"debug address {spec!r}: missing ] after the IPv6 address")
        host, rest = s[1:end], s[end + 1 :]
        if rest and not rest.startswith(":"):
            raise DebugError(f"debug address {spec!r}: expected HOST:PORT or PORT")
        port_text = rest[1:]
    elif s.isdigit():
        port_text = s
    elif s.count(":") == 1:
        host, port_text = s.split(":")
        host = host or default_host
    else:  # a host name, or a bare IPv6 address
        host = s
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 <= int(port_text) < 65536:
        raise DebugError(f"debug address {spec!r}: expected HOST:PORT or PORT, with a port from 0 to 65535")
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1). Other names count as
    remote: a name can resolve to anything."""
    h = host.strip().strip("[]").rstrip(".").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False
