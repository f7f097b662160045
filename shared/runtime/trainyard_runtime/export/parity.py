"""Whether an exported model answers like the PyTorch model it came from (numpy only).

Both run on the same validation images; per output, the exported answer must lie within
`atol + rtol * |reference|` of PyTorch's everywhere (rtol keeps pixel-scale box coordinates of a
detection head to the same relative standard as logits), and a classifier must pick the same
top class on at least `min_top1_agreement` of the images. The report says by how much it
differed either way, so a passing export shows its margin and a failing one what broke.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from trainyard_runtime.training.errors import TrainingError
from trainyard_wire.failures import FailureReason

RTOL = 1e-3


@dataclass
class ParityReport:
    format: str
    images: int
    atol: float
    rtol: float
    max_abs_diff: float
    mean_abs_diff: float
    # The largest |diff| - (atol + rtol * |reference|): at or below 0 everywhere when in tolerance.
    worst_excess: float
    top1_agreement: float | None = None
    min_top1_agreement: float | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)  # per output: shape and diffs

    @property
    def passed(self) -> bool:
        if self.worst_excess > 0 or not np.isfinite(self.max_abs_diff):
            return False
        if self.top1_agreement is not None and self.min_top1_agreement is not None:
            return self.top1_agreement >= self.min_top1_agreement
        return True

    def as_dict(self) -> dict[str, Any]:
        """As JSON carries it: a non-finite difference (an export answering NaN) as None."""
        return _finite({**asdict(self), "passed": self.passed})

    def summary(self) -> str:
        top1 = "" if self.top1_agreement is None else f", top-1 agreement {self.top1_agreement:.3f}"
        return (
            f"{self.format} vs PyTorch on {self.images} validation images: max abs diff "
            f"{self.max_abs_diff:.3g}, mean abs diff {self.mean_abs_diff:.3g}{top1} "
            f"(tolerance atol {self.atol:g} + rtol {self.rtol:g} x |PyTorch output|"
            + (
                ""
                if self.min_top1_agreement is None
                else f", top-1 agreement at least {self.min_top1_agreement:g}"
            )
            + ")"
        )


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _as_batches(outputs: Sequence[Sequence[np.ndarray]]) -> list[np.ndarray]:
    """Per-image lists of outputs -> one array per output, images stacked on axis 0."""
    count = len(outputs[0])
    return [np.concatenate([np.asarray(each[i]) for each in outputs]) for i in range(count)]


def compare(
    reference: Sequence[Sequence[np.ndarray]],
    exported: Sequence[Sequence[np.ndarray]],
    *,
    fmt: str,
    atol: float,
    rtol: float = RTOL,
    classification: bool = False,
    min_top1_agreement: float = 1.0,
) -> ParityReport:
    """Compare per-image outputs (each image: the model's outputs, batch axis 1 long).

    For a classifier the first output holds the class scores (logits or probabilities).
    """
    if not reference or len(reference) != len(exported):
        raise ValueError(f"{len(reference)} reference answers for {len(exported)} exported ones")
    ref, got = _as_batches(reference), _as_batches(exported)
    if len(ref) != len(got):
        raise TrainingError(
            FailureReason.EXPORT_MISMATCH,
            f"the {fmt} model gives {len(got)} outputs, the PyTorch model {len(ref)}",
        )
    per_output: list[dict[str, Any]] = []
    max_abs, total, count, excess = 0.0, 0.0, 0, -np.inf
    for index, (a, b) in enumerate(zip(ref, got, strict=True)):
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        if a64.shape != b64.shape:
            raise TrainingError(
                FailureReason.EXPORT_MISMATCH,
                f"output {index}: the {fmt} model answers shape {b64.shape}, PyTorch {a64.shape}",
            )
        diff = np.abs(a64 - b64)
        diff[~np.isfinite(diff)] = np.inf
        worst = float(np.max(diff - (atol + rtol * np.abs(a64)))) if diff.size else -np.inf
        per_output.append(
            {
                "shape": list(a64.shape),
                "max_abs_diff": float(diff.max()) if diff.size else 0.0,
                "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
            }
        )
        max_abs = max(max_abs, per_output[-1]["max_abs_diff"])
        total += float(diff.sum())
        count += diff.size
        excess = max(excess, worst)
    report = ParityReport(
        format=fmt,
        images=len(reference),
        atol=atol,
        rtol=rtol,
        max_abs_diff=max_abs,
        mean_abs_diff=total / max(count, 1),
        worst_excess=float(excess),
        outputs=per_output,
    )
    if classification:
        scores_ref, scores_got = (
            ref[0].reshape(len(reference), -1),
            got[0].reshape(len(reference), -1),
        )
        same = np.argmax(scores_ref, axis=1) == np.argmax(scores_got, axis=1)
        report.top1_agreement = float(same.mean())
        report.min_top1_agreement = min_top1_agreement
    return report


def require_parity(report: ParityReport) -> None:
    """Fail the export job (`export_mismatch`) when the exported model is not the same model."""
    if not report.passed:
        raise TrainingError(
            FailureReason.EXPORT_MISMATCH,
            f"the exported model does not answer like the trained one: {report.summary()}",
        )


def require_same_metrics(
    reference: dict[str, float], exported: dict[str, float], tolerance: float
) -> None:
    """Fail the export job (`export_mismatch`) when the exported file scores otherwise than the
    PyTorch model on the same validation data (a detector's mAP, each within `tolerance`)."""
    apart = {
        name: abs(exported.get(name, float("nan")) - value) for name, value in reference.items()
    }
    off = {name: gap for name, gap in apart.items() if not gap <= tolerance}
    if off:
        shown = ", ".join(
            f"{name} {reference[name]:.4f} (PyTorch) vs {exported.get(name, float('nan')):.4f}"
            for name in off
        )
        raise TrainingError(
            FailureReason.EXPORT_MISMATCH,
            f"the exported model scores otherwise than the trained one on the validation data: "
            f"{shown}; at most {tolerance} apart is accepted (max_map_diff)",
        )
