"""The ``replaytest`` command line: ``main`` (engine commands, export, schema, vscode) and
``replay`` (the one replay loop, with or without a debugger)."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
