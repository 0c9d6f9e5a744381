"""A pytest plugin that declares ``--replay`` exactly as pytest-replay 1.8.0 does (same group,
action, nargs, type and dest): what replaytest meets in an environment where both are installed."""

from pathlib import Path


def pytest_addoption(parser):
    group = parser.getgroup("replay")
    group.addoption("--replay-record-dir", action="store", dest="replay_record_dir", default=None)
    group.addoption("--replay", action="extend", nargs="*", type=Path, dest="replay_files", default=[])
    group.addoption("--replay-base-name", action="store", dest="base_name", default=".pytest-replay")
    group.addoption("--replay-skip-cleanup", action="store_true", dest="skip_cleanup", default=False)


def pytest_report_header(config):
    return f"replay-owner: replay_files={config.getoption('replay_files')}"
