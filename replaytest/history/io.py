"""Reading history files: bytes from disk, JSON from bytes, and the files a user named.

Shared by every backend: a file is read and parsed once, whatever format it turns out to be,
and every problem is a :class:`HistoryFormatError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.parse
from pathlib import Path
from typing import Any, Sequence

from .errors import HistoryFormatError


def read_bytes(path: str | Path, source: str | None = None) -> bytes:
    """The file's bytes, or a HistoryFormatError naming it (missing, unreadable, a directory)."""
    path = Path(path)
    try:
        return path.read_bytes()
    except OSError as e:
        raise HistoryFormatError(source or str(path), "", f"cannot read the file ({e.strerror})") from None


def parse_json(data: str | bytes, source: str = "<history>") -> Any:
    """JSON text or UTF-8 bytes → the document; never evaluates anything."""
    text = data
    if isinstance(text, bytes):
        if b"\x00" in text[:4096]:
            raise HistoryFormatError(source, "", "this is a binary file, not a JSON history")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise HistoryFormatError(source, f"byte {e.start}", "the file is not UTF-8 text") from None
    if not text.strip():
        raise HistoryFormatError(source, "", "the file is empty; export a history with `replaytest export ID -o DIR`")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        hint = " (the file looks truncated)" if e.pos >= len(text.rstrip()) else ""
        raise HistoryFormatError(source, f"line {e.lineno} column {e.colno}", f"invalid JSON: {e.msg}{hint}") from None


def history_files(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The history files a user named: files as given, directories searched recursively for
    ``*.json``. A missing file is kept, so that loading it reports it beside the others."""
    files: list[Path] = []
    for given in map(Path, paths):
        if given.is_dir():
            found = sorted(p for p in given.rglob("*.json") if p.is_file())
            if not found:
                raise HistoryFormatError(str(given), "", "no .json histories in this directory")
            files += found
        else:
            files.append(given)
    return files


def file_name_for(workflow_id: str, suffix: str = ".json") -> str:
    """A file name for a workflow id that is safe on every file system and unique: characters
    other than letters, digits and ``-._~`` are percent-encoded (``a/b`` → ``a%2Fb``), so
    ``urllib.parse.unquote`` gives the id back. Very long ids keep a prefix and a hash."""
    name = urllib.parse.quote(workflow_id.encode("utf-8", "surrogatepass"), safe="-_~.")
    if name.startswith("."):
        name = "%2E" + name[1:]  # never hidden, never "." or ".."
    if len(name) > 200:
        digest = hashlib.sha256(workflow_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        name = f"{name[:180]}-{digest}"
    return name + suffix
