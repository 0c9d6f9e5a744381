"""A standalone replay() installs the sandbox once per process and keeps it (sandbox.resident):
later calls start no freezegun, code outside workflow code keeps real time, and a
freeze_time() of the caller's own still works."""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import Any

import freezegun
import pytest
from freezegun import api

from replaytest import History, replay, sandbox
from tests.data import smoke_workflows

SMOKE = Path(__file__).resolve().parent / "data" / "smoke-w1.json"
UTC = datetime.UTC


@pytest.fixture
def history() -> History:
    sandbox.release_resident()  # start from a process with nothing installed
    return History.load(SMOKE)


def test_standalone_replays_start_freezegun_once_and_keep_real_time_outside(history, monkeypatch):
    starts: list[int] = []
    real_start = api._freeze_time.start

    def counting_start(self: Any) -> Any:
        starts.append(1)
        return real_start(self)

    monkeypatch.setattr(api._freeze_time, "start", counting_start)
    for _ in range(3):
        assert replay(history, [smoke_workflows]).status == "completed"
    assert starts == [1]
    assert datetime.datetime is api.FakeDatetime and not sandbox.idle()  # kept installed…
    assert abs(datetime.datetime.now(UTC) - api.real_datetime.now(UTC)) < datetime.timedelta(seconds=5)
    assert abs(time.time() - api.real_time()) < 5  # … and passing through outside workflow code
    sandbox.release_resident()
    assert sandbox.idle() and datetime.datetime is api.real_datetime and time.time is api.real_time


def test_a_freeze_time_of_the_callers_own_works_after_a_replay(history):
    replay(history, [smoke_workflows])
    with freezegun.freeze_time("2010-05-06 07:08:09"):
        assert datetime.datetime.now() == datetime.datetime(2010, 5, 6, 7, 8, 9)
        assert datetime.date.today() == datetime.date(2010, 5, 6)
        assert time.time() == datetime.datetime(2010, 5, 6, 7, 8, 9, tzinfo=UTC).timestamp()
        with pytest.raises(RuntimeError, match=r"freezegun\.freeze_time"):
            replay(history, [smoke_workflows])  # workflow code would see that frozen time
    assert abs(time.time() - api.real_time()) < 5
    assert replay(history, [smoke_workflows]).status == "completed"


def test_a_replay_inside_an_open_session_leaves_nothing_behind(history):
    with sandbox.session():
        replay(history, [smoke_workflows])
    assert sandbox.idle() and datetime.datetime is api.real_datetime


def test_sandbox_none_installs_nothing(history):
    replay(history, [smoke_workflows], sandbox=None)
    assert sandbox.idle() and datetime.datetime is api.real_datetime
