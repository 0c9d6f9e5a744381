"""The fuzzer of bench/fuzz_histories.py, a small seeded sample in the suite: generated malformed
histories of every format (mutations of real recorded ones) end in a verdict when loaded
through the seam and when ``replaytest replay`` runs over them, and hypothesis event sequences
of every format replay through the seam to a verdict, none hanging. The big run is the bench
script, whose counts are in docs/trust.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import fuzz_histories as fuzz

FORMATS = ["native", "temporal", "aws", "durabletask"]
pytest_plugins = ["tests.dt_fixtures"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, temporal_histories: Path, dt_histories: Path) -> list[Path]:
    directory = tmp_path_factory.mktemp("fuzz") / "inputs"
    paths: list[Path] = []
    for fmt in FORMATS:
        paths += fuzz.write_inputs(fuzz.generate(fmt, 30, 11, temporal_histories, dt_histories), directory, fmt[0])
    return paths


def test_generated_files_load_to_a_verdict(inputs: list[Path]) -> None:
    assert fuzz.surface_load(inputs, 10) == []


def test_the_cli_reports_every_generated_file_in_one_line(inputs: list[Path]) -> None:
    assert fuzz.surface_cli(inputs, 10) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_event_sequences_replay_through_the_seam_to_a_verdict(
    fmt: str, temporal_histories: Path, dt_histories: Path
) -> None:
    assert fuzz.surface_seam(fmt, 25, 11, temporal_histories, 10, dt_histories) == []
