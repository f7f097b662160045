"""What a dataset check finds: the summary of a dataset and the problems, each naming its files."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

# A broken dataset can have a problem per file; past this many the report only counts them.
MAX_PROBLEMS = 200


@dataclass(frozen=True)
class Problem:
    """One thing wrong: a short kind for programs, the files involved, and what is wrong."""

    kind: str
    files: tuple[str, ...]
    message: str

    def to_error(self) -> dict[str, Any]:
        """The project's error entry: `field` is the (first) file, so any client shows it."""
        return {
            "field": self.files[0] if self.files else "(dataset)",
            "message": self.message,
            "problem": self.kind,
            "files": list(self.files),
        }


@dataclass
class DatasetReport:
    root: Path
    format: str | None = None
    classes: list[str] = field(default_factory=list)
    images: dict[str, int] = field(default_factory=dict)  # images per split
    extra: dict[str, Any] = field(default_factory=dict)  # format specifics (yolo task, …)
    problems: list[Problem] = field(default_factory=list)
    problems_left_out: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def rel(self, path: Path) -> str:
        """A path as the user knows it: relative to the dataset root."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def add(self, kind: str, files: list[Path] | Path | None, message: str) -> None:
        if len(self.problems) >= MAX_PROBLEMS:
            self.problems_left_out += 1
            return
        paths = [] if files is None else [files] if isinstance(files, Path) else files
        self.problems.append(Problem(kind, tuple(self.rel(p) for p in paths), message))

    def summary(self) -> dict[str, Any]:
        return {"classes": self.classes, "images": self.images, **self.extra}

    def describe(self, limit: int = 5) -> str:
        """One line for an error message: the first few problems and how many there are."""
        total = len(self.problems) + self.problems_left_out
        shown = "; ".join(
            f"{', '.join(p.files[:3]) or '(dataset)'}: {p.message}" for p in self.problems[:limit]
        )
        more = f" (and {total - limit} more)" if total > limit else ""
        return f"{total} problem{'s' if total != 1 else ''}: {shown}{more}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "summary": self.summary(),
            "problems": [p.to_error() for p in self.problems],
            "problems_left_out": self.problems_left_out,
        }


def image_error(path: Path) -> str | None:
    """Why an image cannot be used, or None: PIL must identify it and its data must verify."""
    try:
        # Warnings (odd palettes, large images) are not defects; only errors count.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                image.verify()
    except Exception as exc:  # PIL raises many types for bad files
        return f"unreadable or corrupt image ({type(exc).__name__}: {exc})"
    return None


def check_images(report: DatasetReport, images: list[Path]) -> None:
    for image in images:
        error = image_error(image)
        if error:
            report.add("corrupt_image", image, error)
