"""A rich progress bar for fingerprints, shown only when the input is large."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

#: Below this many bytes a bar would only flicker.
SHOW_ABOVE = 64 << 20


@contextmanager
def fingerprint_progress(console: Console) -> Iterator[Callable[[int, int, int, int], None]]:
    bar = Progress(
        TextColumn("fingerprint"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[files]}"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = None

    def update(done: int, total: int, files_done: int, files: int) -> None:
        nonlocal task
        if total < SHOW_ABOVE:
            return
        if task is None:
            bar.start()
            task = bar.add_task("fingerprint", total=total, files="")
        bar.update(task, completed=done, files=f"{files_done}/{files} files")

    try:
        yield update
    finally:
        if task is not None:
            bar.stop()
