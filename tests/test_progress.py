"""Progress bars: drawn when forced (a terminal), silent in tests, cron and CI logs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from test_registry import CUSTOMERS, PRODUCTS, inputs

from flows import channels, progress, stages
from flows.config import load_settings
from models.candidates import ModelSpec

BAR = "━"  # rich's bar; progress also hides the cursor with an escape sequence


def run_stages(tmp_path: Path) -> None:
    """Training (per iteration) and the offer lists (per chunk) on a tiny shop."""
    shop = inputs(CUSTOMERS, PRODUCTS)
    fitted = stages.train_model(shop, ModelSpec("als", {"factors": 4, "iterations": 3}), seed=0)
    channels.offer_lists(fitted, shop, load_settings(tmp_path / "home"), chunk=10)


@pytest.fixture
def screen(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What a terminal would show: the progress console writes here, as to a tty."""
    buffer = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=buffer, force_terminal=True, width=100))
    return buffer


def test_progress_is_silent_when_not_on_a_terminal(tmp_path, screen, monkeypatch, capsys):
    monkeypatch.delenv(progress.ENV, raising=False)  # pytest's stdout is no terminal
    assert not progress.enabled()
    run_stages(tmp_path)
    monkeypatch.setenv(progress.ENV, "0")  # and off on request, whatever the terminal
    monkeypatch.setattr("sys.stdout.isatty", lambda: True, raising=False)
    assert not progress.enabled()
    run_stages(tmp_path)
    assert screen.getvalue() == ""
    captured = capsys.readouterr()
    assert BAR not in captured.out + captured.err


def test_progress_shows_training_iterations_and_offer_chunks_when_forced(
    tmp_path, screen, monkeypatch
):
    monkeypatch.setenv(progress.ENV, "1")
    assert progress.enabled()
    run_stages(tmp_path)
    shown = screen.getvalue()
    assert BAR in shown
    assert "training als(factors=4,iterations=3)" in shown and "3/3" in shown
    assert "offer lists, 40 customers" in shown and "4/4" in shown  # 40 customers, 10 a chunk


def test_a_note_stays_above_the_bar(screen, monkeypatch):
    monkeypatch.setenv(progress.ENV, "1")
    with progress.stage_progress("gate: 2 candidates", 2) as advance:
        advance(note="gate: als (new) trained and scored in 0.4 s")
        advance(note="gate: popular (baseline) trained and scored in 0.1 s")
    shown = screen.getvalue()
    assert "gate: als (new) trained and scored in 0.4 s\n" in shown
    assert "2/2" in shown
    monkeypatch.setenv(progress.ENV, "0")
    with progress.stage_progress("silent", 1) as advance:
        advance(note="never shown")
    assert "never shown" not in screen.getvalue()
