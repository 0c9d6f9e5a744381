"""Reading history files: bytes from disk, JSON from bytes, and the files a user named.

Shared by every backend: a file is read and parsed once, whatever format it turns out to be,
and every problem is a :class:`HistoryFormatError` naming the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import stat
import sys
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import HistoryFormatError

#: The largest history file read, in MB (``REPLAYTEST_MAX_HISTORY_MB`` overrides it): far above
#: any real history (10,000 events are ~3 MB), far below what would exhaust memory.
DEFAULT_MAX_MB = 256.0
MAX_MB_ENV = "REPLAYTEST_MAX_HISTORY_MB"


def max_history_bytes() -> int:
    text = os.environ.get(MAX_MB_ENV, "")
    try:
        mb = float(text) if text else DEFAULT_MAX_MB
    except ValueError:
        mb = DEFAULT_MAX_MB
    return int(mb * 1024 * 1024) if mb > 0 and mb == mb else int(DEFAULT_MAX_MB * 1024 * 1024)


def read_bytes(path: str | Path, source: str | None = None) -> bytes:
    """The file's bytes, or a HistoryFormatError naming it: missing, unreadable, not a regular
    file (a FIFO would block forever, /dev/zero never ends), or larger than the size limit."""
    path, name = Path(path), source or str(path)
    try:  # O_NONBLOCK: opening a FIFO returns at once; fstat then says what was opened
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise HistoryFormatError(name, "", f"cannot read the file ({e.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise HistoryFormatError(name, "", f"not a regular file ({_kind(info.st_mode)}); a history is a JSON file")
        limit = max_history_bytes()
        data = f.read(limit + 1) if info.st_size <= limit else b""
        if info.st_size > limit or len(data) > limit:
            size = max(info.st_size, len(data)) / 1024 / 1024
            raise HistoryFormatError(
                name,
                "",
                f"the file is {size:.3g} MB, larger than the limit of "
                f"{limit / 1024 / 1024:.3g} MB for a history; if it really is one, raise the "
                f"limit with {MAX_MB_ENV}=<MB>",
            )
        return data


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


#: how to get a history, for every format replaytest reads (said when a file is none)
EXPORT_ONE = (
    "export a history with `replaytest export ID -o DIR` (replaytest's engine), "
    "`temporal workflow show --workflow-id ID -o json` (Temporal), "
    "`aws lambda get-durable-execution-history --include-execution-data` (AWS Lambda durable) or "
    "`replaytest pull --durabletask --address HOST:PORT -o DIR` (Durable Task)"
)


def parse_json(data: str | bytes, source: str = "<history>") -> Any:
    """JSON text or UTF-8 bytes → the document; never evaluates anything. Stricter than
    ``json.loads`` where JSON readers disagree: NaN and Infinity are not JSON, a key given twice
    in one object is refused (another reader would see the other value), and nesting or
    numbers too large for Python are a HistoryFormatError, not a crash."""
    text = data
    if isinstance(text, bytes):
        if b"\x00" in text[:4096]:
            raise HistoryFormatError(source, "", "this is a binary file, not a JSON history")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise HistoryFormatError(source, f"byte {e.start}", "the file is not UTF-8 text") from None
    if not text or text.isspace():  # (text.strip() would copy the whole file)
        raise HistoryFormatError(source, "", f"the file is empty; {EXPORT_ONE}")
    doc = _read_without_hook(text)
    if doc is not _UNDECIDED:
        return doc
    try:
        return json.loads(text, parse_constant=_no_constant, object_pairs_hook=_object)
    except json.JSONDecodeError as e:
        hint = " (the file looks truncated)" if e.pos >= len(text.rstrip()) else ""
        raise HistoryFormatError(source, f"line {e.lineno} column {e.colno}", f"invalid JSON: {e.msg}{hint}") from None
    except _NotJSON as e:
        raise HistoryFormatError(
            source, _where(text, _CONSTANT), f"invalid JSON: {e} (JSON has no NaN or Infinity)"
        ) from None
    except _DuplicateKey as e:  # read again, keeping the objects with a repeated key, to say where
        try:
            pointer, key = _find_duplicate(json.loads(text, object_pairs_hook=_flag_duplicates))
            where = pointer or "top level"
        except (ValueError, RecursionError):  # the file has other problems too: name the key alone
            where, key = "", e.args[0]
        raise HistoryFormatError(
            source,
            where,
            f"key {key!r} appears twice in one object; JSON "
            "readers disagree on which value wins, so replaytest refuses to guess",
        ) from None
    except RecursionError:
        raise HistoryFormatError(
            source,
            _where_too_deep(text),
            f"lists and objects nested too deeply to read (Python reads fewer than {sys.getrecursionlimit()} levels)",
        ) from None
    except ValueError:  # Python refuses integers of more than sys.get_int_max_str_digits() digits
        raise HistoryFormatError(
            source, _where(text, _HUGE), f"an integer of more than {_MAX_DIGITS} digits, too large to read"
        ) from None


_UNDECIDED = object()


def _read_without_hook(text: str) -> Any:
    """The document as plain ``json.loads`` reads it (the same reader, a third less time than
    with the repeated-key hook, which runs Python for every object), if no key repeats: the
    colons of the text against those of the document encoded again. Else, or if reading fails,
    ``_UNDECIDED``: the reading with the hook decides and words the error."""
    import msgspec

    if "\\u003" in text and ("\\u003a" in text or "\\u003A" in text):
        return _UNDECIDED  # an escaped colon: the count would not be exact
    try:
        doc = json.loads(text, parse_constant=_no_constant)
        again = msgspec.json.encode(doc)
    except (ValueError, RecursionError, TypeError, OverflowError, msgspec.EncodeError):
        return _UNDECIDED
    return doc if text.count(":") == again.count(b":") else _UNDECIDED


def repeats_a_key(data: bytes, reencoded: bytes, outside: int = 0) -> bool:
    """True unless no object in the JSON ``data`` gives a key twice, judged against ``reencoded``
    (what it decoded to, encoded again, less ``outside`` keys left out of it). Each key has its
    colon outside strings, and the colons inside strings are the same in the decoded values
    (unless one is written as an escape, when this says True), so a repeated key, dropped by
    decoding, shows as a missing colon. Costs two byte counts."""
    if b"\\" in data and (b"\\u003a" in data or b"\\u003A" in data):
        return True  # an escaped colon: the count would not be exact
    return data.count(b":") != reencoded.count(b":") + outside


class _NotJSON(ValueError):
    pass


class _Duplicated(dict[str, Any]):
    """An object in which a key appeared twice (kept to find where, then refused)."""

    duplicate = ""


def _no_constant(name: str) -> Any:
    raise _NotJSON(f"{name} is not a number")


class _DuplicateKey(ValueError):
    pass


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)  # the hot path of every load: one dict and one comparison per object
    if len(d) != len(pairs):
        seen: set[str] = set()
        raise _DuplicateKey(next(k for k, _ in pairs if k in seen or seen.add(k)))  # type: ignore[func-returns-value]
    return d


def _flag_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) == len(pairs):
        return d
    flagged = _Duplicated(d)
    seen: set[str] = set()
    flagged.duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
    return flagged


def _find_duplicate(doc: Any, path: str = "") -> tuple[str, str]:
    """The JSON pointer and key of the first object (in document order) with a repeated key."""
    stack: list[tuple[Any, str]] = [(doc, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, _Duplicated):
            return where, node.duplicate
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        stack.extend(reversed([(v, f"{where}/{k}") for k, v in children]))
    return "", ""


#: Tokens located only when reading failed (strings are matched first, so text inside them never counts).
_CONSTANT = re.compile(r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)')
_MAX_DIGITS = getattr(sys, "get_int_max_str_digits", lambda: 4300)()
_HUGE = re.compile(r'"(?:[^"\\]|\\.)*"|(-?[0-9]{' + str(_MAX_DIGITS + 1) + r",})")
_DEEP = re.compile(r'"(?:[^"\\]|\\.)*"|([\[{])|[\]}]')


def _where(text: str, pattern: re.Pattern[str]) -> str:
    """``line L column C`` of the first match of ``pattern``'s group 1, or "" if there is none."""
    for m in pattern.finditer(text):
        if m.group(1) is not None:
            return _line_column(text, m.start())
    return ""


def _where_too_deep(text: str) -> str:
    """``line L column C`` of the bracket that goes deeper than Python reads, or ""."""
    depth, limit = 0, max(sys.getrecursionlimit() - 50, 1)
    for m in _DEEP.finditer(text):
        if m.group(1) is not None:
            depth += 1
            if depth >= limit:
                return _line_column(text, m.start())
        elif m.group(0) in "]}":
            depth -= 1
    return ""


def _line_column(text: str, pos: int) -> str:
    return f"line {text.count(chr(10), 0, pos) + 1} column {pos - (text.rfind(chr(10), 0, pos) + 1) + 1}"


def write_atomically(path: str | Path, data: str | bytes) -> Path:
    """Write ``path`` (UTF-8 for text) through a temporary file beside it, then rename it over
    ``path``: a reader never sees half a file. The temporary file has a random name and is created
    exclusively (``O_EXCL``: a link planted under any name is never followed, so a pull into a
    shared folder never writes outside it), with the mode a new file gets under the umask."""
    path = Path(path)
    data = data.encode("utf-8") if isinstance(data, str) else data
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue  # taken (or planted): another name
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def history_files(paths: Sequence[str | os.PathLike[str]], suffixes: tuple[str, ...] = (".json",)) -> list[Path]:
    """The history files a user named: files as given, directories searched recursively for
    names ending in ``suffixes``. A missing file is kept, so that loading it reports it beside
    the others."""
    files: list[Path] = []
    for given in map(Path, paths):
        if given.is_dir():
            found = sorted({p for s in suffixes for p in given.rglob(f"*{s}") if p.is_file()})
            if not found:
                raise HistoryFormatError(str(given), "", f"no {'/'.join(suffixes)} histories in this directory")
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
