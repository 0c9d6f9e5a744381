"""`replaytest vscode` and debug/vscode.py: the attach configuration, merged into an existing
launch.json keeping its comments, other entries and custom keys; links, modes, odd files and
what cannot be parsed are one clear line and the file is left unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from replaytest.debug.vscode import CONFIG_NAME, LaunchJsonError, merge_launch_json, vscode_config, write_launch_json


def test_vscode_config() -> None:
    c = vscode_config("127.0.0.1", 5678)
    assert c["name"] == CONFIG_NAME and (c["type"], c["request"]) == ("debugpy", "attach")
    assert c["connect"] == {"host": "127.0.0.1", "port": 5678} and c["justMyCode"] is True
    assert {"module": "replaytest", "include": False} in c["rules"] and "pathMappings" not in c
    remote = vscode_config("10.0.0.5", 5678, remote_root="/app")
    assert remote["pathMappings"] == [{"localRoot": "${workspaceFolder}", "remoteRoot": "/app"}]


def test_write_launch_json_creates_the_file(tmp_path: Path) -> None:
    path = tmp_path / ".vscode" / "launch.json"
    assert write_launch_json(path, port=5679) == "created"
    data = json.loads(path.read_text())
    assert data["version"] == "0.2.0" and data["configurations"] == [vscode_config("127.0.0.1", 5679)]


EXISTING = """{
    // Use IntelliSense to learn about possible attributes.
    "version": "0.2.0",
    "configurations": [
        {
            "name": "Python: Current File", // mine
            "type": "debugpy",
            "request": "launch",
            "program": "${file}", /* keep "quotes" // and this */
        },
        {
            "name": "Attach to replaytest",
            "type": "debugpy", "request": "attach", "connect": {"port": 1},
        },
        {"name": "Tests", "type": "debugpy", "request": "launch", "module": "pytest"},
    ],
}
"""


def test_write_launch_json_merges_keeping_comments_and_other_configurations(tmp_path: Path) -> None:
    path = tmp_path / "launch.json"
    path.write_text(EXISTING)
    assert write_launch_json(path, port=5680) == "replaced"
    text = path.read_text()
    assert "// Use IntelliSense" in text and "// mine" in text and '/* keep "quotes" // and this */' in text
    names = [c["name"] for c in _loads_jsonc(text)["configurations"]]
    assert names == ["Python: Current File", CONFIG_NAME, "Tests"]  # replaced in place
    assert _loads_jsonc(text)["configurations"][1] == vscode_config("127.0.0.1", 5680)
    # a file without our configuration gets it appended; running it again replaces, not duplicates
    path.write_text(EXISTING.replace('"Attach to replaytest"', '"Someone else"'))
    assert write_launch_json(path) == "added"
    assert write_launch_json(path) == "replaced"
    configs = _loads_jsonc(path.read_text())["configurations"]
    assert [c["name"] for c in configs] == ["Python: Current File", "Someone else", "Tests", CONFIG_NAME]


@pytest.mark.parametrize(
    "text, names",
    [
        ('{"version": "0.2.0", "configurations": []}', [CONFIG_NAME]),
        ('{"version": "0.2.0"}', [CONFIG_NAME]),
        ("{}", [CONFIG_NAME]),
        ('{\r\n  "configurations": [\r\n    {"name": "a"}\r\n  ]\r\n}\r\n', ["a", CONFIG_NAME]),
    ],
)
def test_merge_launch_json_shapes(text: str, names: list[str]) -> None:
    merged, _ = merge_launch_json(text, vscode_config())
    assert [c["name"] for c in _loads_jsonc(merged)["configurations"]] == names


@pytest.mark.parametrize(
    "text",
    [
        '{"configurations": [ {"name": "x"} ',  # truncated
        '{"configurations": {"name": "x"}}',  # not a list
        "[1, 2]",  # not an object
        '{"configurations": [], "configurations": []}',
        '{"a": 1 /* unterminated }',
    ],
)
def test_write_launch_json_refuses_what_it_cannot_parse(tmp_path: Path, text: str) -> None:
    path = tmp_path / "launch.json"
    path.write_text(text)
    with pytest.raises(LaunchJsonError, match=r"left unchanged\. Add this configuration to it by hand"):
        write_launch_json(path)
    assert path.read_text() == text


def _loads_jsonc(text: str) -> Any:
    from replaytest.debug.vscode import _Parser

    return _Parser(text).document().value


def test_vscode_writes_and_merges_launch_json(tmp_path: Path) -> None:
    import json
    import subprocess

    def vscode(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "replaytest", "vscode", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    printed = vscode("--print")
    assert printed.returncode == 0 and json.loads(printed.stdout)["name"] == "Attach to replaytest"
    assert not (tmp_path / ".vscode").exists()
    launch = tmp_path / ".vscode" / "launch.json"
    launch.parent.mkdir()
    launch.write_text(
        '{\n  // mine\n  "version": "0.2.0",\n  "configurations": [{"name": "Mine", "type": "debugpy", '
        '"request": "launch", "program": "x.py"},]\n}\n'
    )
    first = vscode()
    assert first.returncode == 0 and "added" in first.stdout
    text = launch.read_text()
    assert "// mine" in text and '"Mine"' in text and "Attach to replaytest" in text
    again = vscode("--port", "5679")
    assert "replaced" in again.stdout and launch.read_text().count("Attach to replaytest") == 1
    assert "5679" in launch.read_text()


def vscode(cwd, *args: str):
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "replaytest", "vscode", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


OTHER = '{\n    "version": "0.2.0",\n    // mine\n    "configurations": [{"name": "Other", "type": "python"}]\n}\n'


def configurations(path) -> list:
    from replaytest.debug.vscode import _Parser

    return _Parser(path.read_text()).document().value["configurations"]


def test_vscode_writes_through_a_symlink_to_the_shared_file(tmp_path: Path) -> None:
    shared = tmp_path / "shared" / "launch.json"
    shared.parent.mkdir()
    shared.write_text(OTHER)
    (tmp_path / ".vscode").mkdir()
    link = tmp_path / ".vscode" / "launch.json"
    link.symlink_to(shared)
    proc = vscode(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and link.resolve() == shared.resolve()
    assert [c["name"] for c in configurations(shared)] == ["Other", "Attach to replaytest"]
    assert "// mine" in shared.read_text()


def test_vscode_keeps_a_hard_link_and_the_file_mode(tmp_path: Path) -> None:

    launch = tmp_path / ".vscode" / "launch.json"
    launch.parent.mkdir()
    launch.write_text(OTHER)
    launch.chmod(0o640)
    other_name = tmp_path / "backup-launch.json"
    os.link(launch, other_name)
    proc = vscode(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert launch.stat().st_ino == other_name.stat().st_ino and launch.stat().st_nlink == 2
    assert [c["name"] for c in configurations(other_name)] == ["Other", "Attach to replaytest"]
    assert launch.stat().st_mode & 0o777 == 0o640


def test_vscode_refuses_a_read_only_launch_json(tmp_path: Path) -> None:
    launch = tmp_path / ".vscode" / "launch.json"
    launch.parent.mkdir()
    launch.write_text(OTHER)
    launch.chmod(0o444)
    proc = vscode(tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "read-only" in proc.stderr and "launch.json" in proc.stderr
    assert launch.read_text() == OTHER and launch.stat().st_mode & 0o777 == 0o444


def test_vscode_refuses_a_dangling_symlink_that_points_outside_vscode(tmp_path: Path) -> None:
    (tmp_path / ".vscode").mkdir()
    outside = tmp_path / "elsewhere" / "launch.json"
    outside.parent.mkdir()
    (tmp_path / ".vscode" / "launch.json").symlink_to(outside)
    proc = vscode(tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "symlink" in proc.stderr and str(outside) in proc.stderr
    assert not outside.exists()


def test_vscode_refuses_deep_nesting_with_a_clear_line(tmp_path: Path) -> None:
    launch = tmp_path / ".vscode" / "launch.json"
    launch.parent.mkdir()
    deep = '{"version": "0.2.0", "x": ' + "[" * 5000 + "]" * 5000 + ', "configurations": []}'
    launch.write_text(deep)
    proc = vscode(tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "RecursionError" not in proc.stderr
    assert "nested too deeply" in proc.stderr
    assert launch.read_text() == deep


def test_vscode_keeps_custom_keys_of_an_existing_attach_entry(tmp_path: Path) -> None:
    launch = tmp_path / ".vscode" / "launch.json"
    launch.parent.mkdir()
    launch.write_text(
        '{"version": "0.2.0", "configurations": [{"name": "Attach to replaytest", "type": "debugpy", '
        '"request": "attach", "connect": {"host": "127.0.0.1", "port": 5678}, '
        '"env": {"A": "1"}, "subProcess": false}]}'
    )
    proc = vscode(tmp_path, "--port", "5679")
    assert proc.returncode == 0, proc.stderr
    (entry,) = configurations(launch)
    assert entry["connect"]["port"] == 5679 and entry["env"] == {"A": "1"} and entry["subProcess"] is False


def test_vscode_refuses_a_launch_json_that_is_not_a_regular_file(tmp_path: Path) -> None:

    (tmp_path / ".vscode").mkdir()
    os.mkfifo(tmp_path / ".vscode" / "launch.json")  # reading it would wait forever
    proc = vscode(tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "is not a regular file" in proc.stderr
