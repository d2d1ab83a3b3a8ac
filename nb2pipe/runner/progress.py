"""Live progress of a run: a rich table on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

STYLE = {"pending": "dim", "running": "yellow", "storing": "yellow", "finished": "green",
         "cached": "cyan", "failed": "bold red", "skipped": "magenta", "interrupted": "red"}


class PlainProgress:
    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout
        self.t0 = time.time()
        self.width = 10

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def start(self, run_id: int, steps: list[str], info: dict[str, Any]) -> None:
        self.t0 = time.time()
        self.width = max([len(s) for s in steps] + [4])
        self._print(f"run {run_id}: {info['package']} ({len(steps)} steps, jobs {info['jobs']}"
                    + (", no cache" if info["no_cache"] else "") + ")")

    def update(self, step: str, status: str, detail: str = "") -> None:
        first = detail.splitlines()[0] if detail else ""
        self._print(f"[{time.time() - self.t0:6.2f}s] {step:<{self.width}}  {status}"
                    + (f"  {first}" if first else ""))

    def finish(self, result: Any) -> None:
        counts: dict[str, int] = {}
        for s in result.steps.values():
            counts[s] = counts.get(s, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        self._print(f"run {result.run_id} {result.status} in {result.seconds:.2f}s ({summary})")
        for step, err in result.errors.items():
            self._print(f"\nstep {step} failed:\n{err}")


class RichProgress(PlainProgress):
    """A live table of steps, their state and time, redrawn in place."""

    def __init__(self) -> None:
        super().__init__()
        from rich.console import Console

        self.console = Console()
        self.live: Any = None
        self.rows: dict[str, list[str]] = {}
        self.started: dict[str, float] = {}
        self.title = ""

    def _table(self) -> Any:
        from rich.table import Table

        t = Table(title=self.title, title_justify="left", box=None, pad_edge=False)
        t.add_column("step")
        t.add_column("status")
        t.add_column("time", justify="right")
        t.add_column("")
        now = time.time()
        for step, (status, detail) in self.rows.items():
            el = f"{now - self.started[step]:.1f}s" if status in ("running", "storing") and \
                step in self.started else ""
            t.add_row(step, f"[{STYLE.get(status, '')}]{status}[/]", el,
                      detail.splitlines()[0][:80] if detail else "")
        return t

    def start(self, run_id: int, steps: list[str], info: dict[str, Any]) -> None:
        from rich.live import Live

        self.t0 = time.time()
        self.title = (f"run {run_id}: {info['package']} (jobs {info['jobs']}"
                      + (", no cache" if info["no_cache"] else "") + ")")
        self.rows = {s: ["pending", ""] for s in steps}
        self.live = Live(get_renderable=self._table, console=self.console,
                         refresh_per_second=8, transient=False)
        self.live.start()

    def update(self, step: str, status: str, detail: str = "") -> None:
        if status == "running":
            self.started[step] = time.time()
        elif status == "finished" and step in self.started:
            detail = f"{time.time() - self.started[step]:.2f}s"
        self.rows[step] = [status, detail]
        if self.live is not None:
            self.live.refresh()

    def finish(self, result: Any) -> None:
        if self.live is not None:
            self.live.stop()
        self.stream = self.console.file
        counts: dict[str, int] = {}
        for s in result.steps.values():
            counts[s] = counts.get(s, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        style = "green" if result.ok else "bold red"
        self.console.print(f"[{style}]run {result.run_id} {result.status}[/] in "
                           f"{result.seconds:.2f}s ({summary})")
        for step, err in result.errors.items():
            self.console.print(f"\n[bold red]step {step} failed:[/]")
            self.console.print(err, markup=False, highlight=False)


def make_progress(quiet: bool = False) -> Any:
    if quiet:
        from nb2pipe.runner.executor import _Silent

        return _Silent()
    if sys.stdout.isatty():
        return RichProgress()
    return PlainProgress()
