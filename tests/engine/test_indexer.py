"""The background indexer's state, as the UI's status line shows it."""

from __future__ import annotations

import pytest

from engine.index.indexer import JobState, Phase


@pytest.mark.parametrize(
    ("phase", "line"),
    [
        (Phase.KEYWORDS, "Indexing keywords: 3 of 9"),
        (Phase.EMBEDDINGS, "Embedding passages: 3 of 9"),
        (Phase.TREE, "Building the summary tree: 3 of 9"),
    ],
)
def test_each_running_phase_is_described_by_its_own_label(phase: Phase, line: str) -> None:
    assert JobState(running=True, phase=phase, done=3, total=9).describe() == line


def test_states_between_phases_errors_and_done() -> None:
    assert JobState(running=True).describe() == "Indexing…"
    assert JobState(error="disk full").describe() == "Indexing stopped: disk full"
    assert JobState(finished_at=1.0).describe() == "Index and summary tree are up to date."
    assert JobState().describe() == ""
