"""Following a job to its end: a line per finished epoch with its metrics, a live bar (state,
epoch, percent, ETA) on a terminal, and a closing line with the outcome."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn
from rich.text import Text

from trainyard_client.cli.output import format_metrics, format_seconds, state_text
from trainyard_client.client import Client
from trainyard_wire.jobs import JobView
from trainyard_wire.states import is_terminal

POLL_SECONDS = 0.5


class JobFollower:
    """Turns the job's successive states into output; `update` is the client's on_update."""

    def __init__(self, client: Client, console: Console, bar: Progress | None) -> None:
        self.client = client
        self.console = console
        self.bar = bar
        self.task: TaskID | None = None
        self.printed_epoch = 0
        self.state = ""

    def update(self, job: JobView) -> None:
        epoch = job.progress.epoch or 0
        if epoch > self.printed_epoch:
            self._print_epochs(job.id)
        if self.bar is not None:
            self._draw(job)
        elif job.state != self.state and not is_terminal(job.state):
            # Off a terminal a line per state change; the closing line tells the last one.
            self.console.print(Text.assemble(f"{job.id} ", state_text(job.state)))
        self.state = job.state

    def _print_epochs(self, job_id: str) -> None:
        """Every epoch finished since the last print, even those between two polls."""
        for entry in self.client.metrics(job_id).epochs:
            if entry.epoch > self.printed_epoch:
                line = f"epoch {entry.epoch}/{entry.total_epochs}  "
                self.console.print(line + format_metrics(entry.metrics), markup=False)
                self.printed_epoch = entry.epoch

    def _draw(self, job: JobView) -> None:
        assert self.bar is not None
        progress = job.progress
        fields: dict[str, Any] = {
            "state": job.state,
            "epochs": f"{progress.epoch or 0}/{progress.total_epochs or '?'}",
            "eta": f"eta {format_seconds(progress.eta_seconds)}" if progress.eta_seconds else "",
        }
        if self.task is None:
            self.task = self.bar.add_task(job.id, total=100, **fields)
        self.bar.update(self.task, completed=progress.percent, **fields)

    def finish(self, job: JobView) -> None:
        if (job.progress.epoch or 0) > self.printed_epoch:
            self._print_epochs(job.id)
        summary = Text.assemble(f"{job.id} ", state_text(job.state))
        if job.error:
            error = job.error
            summary.append(f": {error.get('reason') or ''} {error.get('message') or ''}".rstrip())
        elif job.metrics:
            summary.append("  " + format_metrics(job.metrics))
        self.console.print(summary)
        tail = (job.error or {}).get("log_tail") or []
        if tail:
            self.console.print(Text("last output lines:\n" + "\n".join(tail), style="dim"))


def follow(client: Client, job_id: str, console: Console, timeout: float | None) -> JobView:
    """Wait for the job, showing its progress; returns it once it has ended."""
    if not console.is_terminal:
        follower = JobFollower(client, console, None)
        job = client.wait(job_id, timeout, POLL_SECONDS, follower.update)
        follower.finish(job)
        return job
    with _bar(console) as bar:
        follower = JobFollower(client, console, bar)
        job = client.wait(job_id, timeout, POLL_SECONDS, follower.update)
    follower.finish(job)
    return job


def _bar(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description} {task.fields[state]}"),
        BarColumn(bar_width=20),
        TextColumn("epoch {task.fields[epochs]}"),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[eta]}"),
        console=console,
        # Lines printed on this console while the bar is live appear above it. When done the
        # bar goes; the epoch lines and the closing line stay.
        transient=True,
    )
