"""Progress bars for the stages that take a while (training, the gate's candidates, offer
chunks): drawn on the terminal, silent in tests, cron and CI logs.

``stage_progress(label, total)`` is a context manager giving an ``advance()`` callable; when
progress is off it is a no-op, so stages call it unconditionally. On: ``OFFERS_PROGRESS=1``;
off: ``OFFERS_PROGRESS=0``; unset: on only when stdout and stderr are both terminals. Bars go to
``console`` (stderr), the console the CLI prints its errors and spinners on, so a bar started
under the CLI's spinner nests inside it instead of fighting it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

ENV = "OFFERS_PROGRESS"
ON = ("1", "true", "yes", "on")
OFF = ("0", "false", "no", "off")

console = Console(stderr=True, soft_wrap=True)

Advance = Callable[..., None]


def enabled() -> bool:
    """Whether bars are drawn: ``OFFERS_PROGRESS`` if set, else only on a terminal."""
    flag = os.environ.get(ENV, "").strip().lower()
    if flag in OFF:
        return False
    if flag in ON:
        return True
    return sys.stdout.isatty() and sys.stderr.isatty()


def _noop(step: int = 1, *, note: str | None = None) -> None:
    return None


@contextmanager
def stage_progress(label: str, total: int | None = None) -> Iterator[Advance]:
    """A transient bar for one stage; yields ``advance(step=1, *, note=None)``.

    ``total`` None: the bar only shows that the stage is alive and for how long. ``note``
    prints a line above the bar that stays after it (e.g. one line per gate candidate).
    """
    if not enabled():
        yield _noop
        return
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(escape(label), total=total)

        def advance(step: int = 1, *, note: str | None = None) -> None:
            bar.update(task, advance=step)
            if note:
                bar.console.print(note, markup=False, highlight=False)

        yield advance
