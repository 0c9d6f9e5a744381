"""Stand-in for `replaytest replay PATH... --module M --debug[=HOST:PORT] ...` while the CLI
wiring is being written: the same flags, handed to the same library function the CLI calls
(replaytest.debug.replay_with_debugger). tests/test_debug.py runs it as a subprocess."""
import argparse
import sys

from replaytest.debug import DebugError, DebugOptions, replay_with_debugger


def main(argv=None):
    p = argparse.ArgumentParser(prog="replaytest replay")
    p.add_argument("paths", nargs="+")
    p.add_argument("--module", action="append", default=[])
    p.add_argument("--debug", nargs="?", const="", default=None, metavar="HOST:PORT")
    p.add_argument("--break-at", action="append", default=[])
    p.add_argument("--break-on", action="append", default=[])
    p.add_argument("--debug-allow-remote", action="store_true")
    p.add_argument("--debug-timeout", default=None)
    p.add_argument("--sandbox", default="strict")
    a = p.parse_args(argv)
    try:
        options = DebugOptions.from_cli(a.debug, break_at=a.break_at, break_on=a.break_on,
                                        allow_remote=a.debug_allow_remote, timeout=a.debug_timeout,
                                        allow_remote_flag="--debug-allow-remote", timeout_flag="--debug-timeout")
    except DebugError as e:
        print(f"replaytest: {e}", file=sys.stderr)
        return 2
    return replay_with_debugger(a.paths, a.module, options, sandbox=a.sandbox)


if __name__ == "__main__":
    sys.exit(main())
