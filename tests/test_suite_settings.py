"""The suite's own pytest settings hold (pyproject.toml, tests/conftest.py): a warning replaytest
raises is an error here, and markers, ini keys and xfails are strict."""

from __future__ import annotations

import warnings

import pytest

from replaytest import DuplicateWorkflowWarning
from replaytest.report.result import ReplayWarning


@pytest.mark.parametrize("category", [DuplicateWorkflowWarning, ReplayWarning])
def test_a_warning_replaytest_raises_is_an_error_in_this_suite(category: type[Warning]) -> None:
    with pytest.raises(category, match="unexpected"):
        warnings.warn("unexpected", category, stacklevel=1)


def test_markers_ini_keys_and_xfails_are_strict(request: pytest.FixtureRequest) -> None:
    config = request.config
    assert config.option.strict_markers and config.option.strict_config
    assert config.getini("xfail_strict") is True
