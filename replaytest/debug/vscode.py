"""The "Attach to replaytest" VS Code launch configuration, and merging it into launch.json.

VS Code reads launch.json as JSON with comments (``//``, ``/* */``) and trailing commas. A
merge must not lose the user's other configurations or comments, so it edits the text: a small
parser records where each configuration starts and ends, the one named "Attach to replaytest"
is replaced in place (or the new one inserted after the last), and the result is parsed again
and checked before anything is written. A file that cannot be parsed is refused, never
overwritten.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..definitions import ReplaytestError

CONFIG_NAME = "Attach to replaytest"


class LaunchJsonError(ReplaytestError):
    """launch.json exists but cannot be merged safely; it was left untouched."""


def vscode_config(
    host: str = "127.0.0.1",
    port: int = 5678,
    *,
    name: str = CONFIG_NAME,
    remote_root: str | None = None,
    local_root: str = "${workspaceFolder}",
) -> dict[str, Any]:
    """The attach configuration for a replay waiting under ``--debug`` / ``--replay-debug``.

    ``justMyCode`` keeps stepping in workflow code; the two ``rules`` also hide replaytest's own
    frames when it is installed in editable mode (outside site-packages it would otherwise
    count as "my code"; the debug server adds the same filter itself, the rules make it
    explicit). ``pathMappings`` are only needed when the replay runs on another machine or in
    a container: pass ``remote_root`` (the replay's working directory there)."""
    config: dict[str, Any] = {
        "name": name,
        "type": "debugpy",
        "request": "attach",
        "connect": {"host": host, "port": int(port)},
        "justMyCode": True,
        "rules": [
            {"module": "replaytest", "include": False},
            {"module": "replaytest_pytest", "include": False},
        ],
    }
    if remote_root is not None:
        config["pathMappings"] = [{"localRoot": local_root, "remoteRoot": remote_root}]
    return config


def write_launch_json(
    path: str | os.PathLike[str] = ".vscode/launch.json",
    config: dict[str, Any] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 5678,
) -> str:
    """Add ``config`` (default: :func:`vscode_config` for host/port) to the launch.json at
    ``path``, creating it if needed. Other configurations, comments and formatting are kept;
    a configuration with the same name is replaced. Returns "created", "added" or "replaced".
    Raises LaunchJsonError, leaving the file as it was, when it cannot be merged safely."""
    config = config if config is not None else vscode_config(host, port)
    p = _target(Path(path))
    if not p.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"version": "0.2.0", "configurations": [config]}, indent=4) + "\n"
        p.write_text(text, encoding="utf-8")
        return "created"
    if not p.is_file():
        raise LaunchJsonError(
            f"{p} is not a regular file; it was left unchanged. Add this configuration to "
            f"your launch.json by hand:\n{_dump(config)}"
        )
    info = p.stat()
    if not info.st_mode & stat.S_IWUSR:
        raise LaunchJsonError(
            f"{p} is read-only; it was left unchanged. Make it writable and run again, or add "
            f"this configuration by hand:\n{_dump(config)}"
        )
    try:
        original = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise LaunchJsonError(f"{p}: cannot read it ({e}); add the configuration by hand:\n{_dump(config)}") from None
    new_text, action = merge_launch_json(original, config, source=str(p))
    if new_text != original:
        if info.st_nlink > 1:  # a hard link: replacing the file would split it from its other names
            with open(p, "r+", encoding="utf-8", newline="") as f:
                f.write(new_text)
                f.truncate()
        else:  # atomically, with the file's own mode
            tmp = p.with_name(p.name + ".replaytest-tmp")
            tmp.write_text(new_text, encoding="utf-8", newline="")
            os.chmod(tmp, stat.S_IMODE(info.st_mode))
            os.replace(tmp, p)
    return action


def _target(p: Path) -> Path:
    """The file to write: through symlinks (a shared launch.json stays shared). A dangling link
    is followed only to a file inside the link's own directory (.vscode): creating a file
    wherever a stray link points is not ours to do."""
    if not p.is_symlink():
        return p
    target = Path(os.path.realpath(p))
    if target.exists():
        return target
    inside = Path(os.path.realpath(p.parent))
    if target.parent != inside:
        raise LaunchJsonError(
            f"{p} is a symlink to {os.readlink(p)} ({target}), which does not exist and lies outside "
            f"{p.parent}; it was left unchanged. Fix or remove the link and run again"
        )
    return target


def merge_launch_json(text: str, config: dict[str, Any], source: str = "launch.json") -> tuple[str, str]:
    """The text of a launch.json with ``config`` merged in, and "added" or "replaced"."""

    def refuse(why: str) -> LaunchJsonError:
        return LaunchJsonError(
            f"{source}: {why}; it was left unchanged. Add this configuration to it by hand:\n{_dump(config)}"
        )

    try:
        root = _Parser(text).document()
    except ValueError as e:
        raise refuse(f"cannot be parsed safely ({e})") from None
    except RecursionError:
        raise refuse("it is nested too deeply to be parsed safely") from None
    if root.kind != "object":
        raise refuse("the top level is not a JSON object")
    before = root.value
    name = config.get("name")
    configs_node = root.members.get("configurations")
    body = _dump(config)
    if configs_node is None:
        newline = _newline(text)
        indent = _indent_unit(text)
        insert = f'{newline}{indent}"configurations": [{newline}{_indent(body, indent * 2, newline)}{newline}{indent}]'
        insert += "," if root.items else newline
        at = root.start + 1
        new_text, action = text[:at] + insert + text[at:], "added"
    elif configs_node.kind != "array":
        raise refuse('"configurations" is not a list')
    else:
        same = [n for n in configs_node.items if n.kind == "object" and n.value.get("name") == name]
        if len(same) > 1:
            raise refuse(f"it has {len(same)} configurations named {name!r}")
        newline = _newline(text)
        if same:
            node = same[0]
            config = {**node.value, **config}  # keep what the user added (env, subProcess, ...): we set only ours
            body = _dump(config)
            indent = _line_indent(text, node.start)
            new_text = text[: node.start] + _indent(body, indent, newline).lstrip() + text[node.end :]
            action = "replaced"
        elif configs_node.items:
            last = configs_node.items[-1]
            indent = _line_indent(text, last.start)
            new_text = text[: last.end] + "," + newline + _indent(body, indent, newline) + text[last.end :]
            action = "added"
        else:
            outer = _line_indent(text, configs_node.start)
            indent = outer + _indent_unit(text)
            inner = text[configs_node.start + 1 : configs_node.end - 1]
            new_text = (
                text[: configs_node.start + 1]
                + newline
                + _indent(body, indent, newline)
                + newline
                + outer
                + inner.strip(" \t\r\n")
                + text[configs_node.end - 1 :]
            )
            action = "added"
    # Check the result before anything is written: the same document plus (or with) our config.
    try:
        after = _Parser(new_text).document().value
    except (ValueError, RecursionError) as e:  # pragma: no cover - would be a bug in the editing above
        raise refuse(f"merging would produce invalid JSON ({e})") from None
    expected = dict(before)
    old = [c for c in before.get("configurations", []) if not (isinstance(c, dict) and c.get("name") == name)]
    if action == "replaced":
        expected["configurations"] = [
            config if isinstance(c, dict) and c.get("name") == name else c for c in before["configurations"]
        ]
    else:
        expected["configurations"] = old + [config]
    if after != expected:  # pragma: no cover - would be a bug in the editing above
        raise refuse("merging would change more than the replaytest configuration")
    return new_text, action


def _dump(config: dict[str, Any]) -> str:
    return json.dumps(config, indent=4)


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _indent_unit(text: str) -> str:
    m = re.search(r"\n([ \t]+)\S", text)
    return m.group(1) if m else "    "


def _line_indent(text: str, pos: int) -> str:
    start = text.rfind("\n", 0, pos) + 1
    m = re.match(r"[ \t]*", text[start:pos])
    return m.group(0) if m else ""


def _indent(body: str, indent: str, newline: str) -> str:
    return newline.join(indent + line for line in body.split("\n"))


@dataclass
class _Node:
    kind: str  # object | array | scalar
    start: int  # index of the first character
    end: int  # index after the last character
    value: Any
    members: dict[str, _Node] = field(default_factory=dict)  # objects
    items: list[_Node] = field(default_factory=list)  # arrays; objects: member values


class _Parser:
    """JSON with comments and trailing commas (what VS Code accepts), with positions."""

    _NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
    _STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"')

    def __init__(self, text: str) -> None:
        self.s = text[1:] if text.startswith("\ufeff") else text
        self.offset = len(text) - len(self.s)
        self.i = 0

    def fail(self, what: str) -> ValueError:
        line = self.s.count("\n", 0, self.i) + 1
        col = self.i - (self.s.rfind("\n", 0, self.i) + 1) + 1
        return ValueError(f"{what} at line {line} column {col}")

    def document(self) -> _Node:
        self.ws()
        node = self.value()
        self.ws()
        if self.i != len(self.s):
            raise self.fail("unexpected text after the JSON value")
        return node

    def ws(self) -> None:
        s, n = self.s, len(self.s)
        while self.i < n:
            c = s[self.i]
            if c in " \t\r\n":
                self.i += 1
            elif s.startswith("//", self.i):
                j = s.find("\n", self.i)
                self.i = n if j < 0 else j + 1
            elif s.startswith("/*", self.i):
                j = s.find("*/", self.i + 2)
                if j < 0:
                    raise self.fail("unterminated /* comment")
                self.i = j + 2
            else:
                return

    def value(self) -> _Node:
        s, start = self.s, self.i
        if start >= len(s):
            raise self.fail("unexpected end of file")
        c = s[start]
        if c == "{":
            return self.obj()
        if c == "[":
            return self.arr()
        if c == '"':
            return _Node("scalar", start + self.offset, self.string_end() + self.offset, json.loads(s[start : self.i]))
        for word, val in (("true", True), ("false", False), ("null", None)):
            if s.startswith(word, start):
                self.i += len(word)
                return _Node("scalar", start + self.offset, self.i + self.offset, val)
        m = self._NUMBER.match(s, start)
        if m:
            self.i = m.end()
            return _Node("scalar", start + self.offset, self.i + self.offset, json.loads(m.group(0)))
        raise self.fail(f"unexpected character {c!r}")

    def string_end(self) -> int:
        m = self._STRING.match(self.s, self.i)
        if not m:
            raise self.fail("invalid string")
        self.i = m.end()
        return self.i

    def eat(self, char: str) -> bool:
        """Step over ``char`` if it comes next."""
        if self.s.startswith(char, self.i):
            self.i += 1
            return True
        return False

    def obj(self) -> _Node:
        start = self.i
        self.i += 1
        node = _Node("object", start + self.offset, 0, {})
        while True:
            self.ws()
            if self.eat("}"):
                break
            if not self.s.startswith('"', self.i):
                raise self.fail('expected a "key" or }')
            key_start = self.i
            key = json.loads(self.s[key_start : self.string_end()])
            if key in node.value:
                raise self.fail(f"duplicate key {key!r}")
            self.ws()
            if not self.eat(":"):
                raise self.fail("expected :")
            self.ws()
            child = self.value()
            node.value[key] = child.value
            node.members[key] = child
            node.items.append(child)
            self.ws()
            if self.eat(","):
                continue
            if self.eat("}"):
                break
            raise self.fail("expected , or }")
        node.end = self.i + self.offset
        return node

    def arr(self) -> _Node:
        start = self.i
        self.i += 1
        node = _Node("array", start + self.offset, 0, [])
        while True:
            self.ws()
            if self.eat("]"):
                break
            child = self.value()
            node.value.append(child.value)
            node.items.append(child)
            self.ws()
            if self.eat(","):
                continue
            if self.eat("]"):
                break
            raise self.fail("expected , or ]")
        node.end = self.i + self.offset
        return node
