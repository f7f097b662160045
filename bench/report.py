"""Markdown output: one table per benchmark, and the machine header of a results file."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Table:
    title: str
    # What is measured and against which baseline, in a sentence or two.
    about: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{self.title}: {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append([str(c) for c in cells])

    def markdown(self) -> str:
        lines = [f"## {self.title}", "", self.about, ""]
        lines.append("| " + " | ".join(self.columns) + " |")
        lines.append("|" + "---|" * len(self.columns))
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.notes:
            lines.append("")
            lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def progress(message: str) -> None:
    """A timestamped line on stderr, so a long run shows where its time goes."""
    print(f"   {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def _torch(python: Path) -> tuple[str, str]:
    """torch's version and the device a framework environment trains on."""
    code = (
        "import torch; cuda = torch.cuda.is_available(); "
        "print(torch.__version__); print(torch.cuda.get_device_name(0) if cuda else 'CPU')"
    )
    try:
        out = subprocess.run(
            [str(python), "-c", code], capture_output=True, text=True, timeout=120, check=True
        )
        version, device = out.stdout.split("\n")[:2]
        return version, device
    except (OSError, subprocess.SubprocessError, ValueError):
        return "not available", "CPU"


def machine_header(title: str) -> str:
    version, device = _torch(REPO / ".venvs" / "timm" / "bin" / "python")
    commit = _git("rev-parse", "--short=12", "HEAD") or "unknown"
    if _git("status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = [
        ("cores", str(cores)),
        ("memory", _memory_gib()),
        ("CPU", _cpu_model()),
        ("device", device),
        ("torch", version),
        ("Python", platform.python_version()),
        ("load average at start", " / ".join(f"{v:.2f}" for v in os.getloadavg())),
        ("date", now),
        ("git commit", commit),
    ]
    lines = [f"# {title}", "", "| machine | |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines) + "\n"
