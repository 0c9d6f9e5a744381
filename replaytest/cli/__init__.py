"""The ``replaytest`` command line: ``main`` (engine commands, export, schema, vscode),
``parser`` (every command's options) and ``replay`` (the one replay loop, with or without a
debugger)."""

from .main import main
from .parser import build_parser

__all__ = ["build_parser", "main"]
