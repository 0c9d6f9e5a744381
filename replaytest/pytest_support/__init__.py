"""The work behind the pytest plugin (``replaytest_pytest``), imported only by sessions that
replay something: ``items`` (history files as test items, the ``replayed`` fixture),
``settings`` (what a session's replays share), ``fixtures`` and ``summary``.

The library never imports the plugin; the plugin imports this package lazily.
"""

from .fixtures import ENGINE_START, make_engine
from .items import VERDICTS, HistoryFile, HistoryItem, Replay, replay_marked
from .settings import end_notes, settings, start_debugger
from .summary import summary_line

__all__ = [
    "ENGINE_START",
    "VERDICTS",
    "HistoryFile",
    "HistoryItem",
    "Replay",
    "end_notes",
    "make_engine",
    "replay_marked",
    "settings",
    "start_debugger",
    "summary_line",
]
