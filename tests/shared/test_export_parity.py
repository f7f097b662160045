"""The parity check of an export (numpy only): what passes, and each way it fails."""

from __future__ import annotations

import numpy as np
import pytest

from trainyard_runtime.export.parity import compare, require_parity, require_same_metrics
from trainyard_runtime.training import TrainingError
from trainyard_wire.failures import FailureReason

RNG = np.random.default_rng(0)
LOGITS = [[RNG.normal(size=(1, 5)).astype(np.float32)] for _ in range(6)]


def shifted(outputs, by: float):
    return [[array + np.float32(by) for array in image] for image in outputs]


def test_the_same_answers_pass_with_no_difference() -> None:
    report = compare(LOGITS, LOGITS, fmt="onnx", atol=1e-3, classification=True)
    assert report.passed
    assert (report.max_abs_diff, report.mean_abs_diff, report.top1_agreement) == (0.0, 0.0, 1.0)
    assert report.images == 6 and report.outputs == [
        {"shape": [6, 5], "max_abs_diff": 0.0, "mean_abs_diff": 0.0}
    ]
    require_parity(report)


def test_a_difference_within_tolerance_passes_and_is_reported() -> None:
    report = compare(LOGITS, shifted(LOGITS, 5e-4), fmt="onnx", atol=1e-3)
    assert report.passed
    assert report.max_abs_diff == pytest.approx(5e-4, rel=1e-2)
    assert report.mean_abs_diff == pytest.approx(5e-4, rel=1e-2)


def test_a_difference_beyond_tolerance_fails_with_export_mismatch() -> None:
    report = compare(LOGITS, shifted(LOGITS, 0.01), fmt="onnx", atol=1e-3, rtol=0.0)
    assert not report.passed and report.worst_excess == pytest.approx(0.009, rel=1e-2)
    with pytest.raises(TrainingError) as caught:
        require_parity(report)
    assert caught.value.reason == FailureReason.EXPORT_MISMATCH
    assert "max abs diff 0.01" in str(caught.value)


def test_rtol_scales_the_tolerance_with_the_output() -> None:
    """Box coordinates in pixels differ more in absolute terms than logits do."""
    boxes = [[np.full((1, 4, 8), 600.0, dtype=np.float32)]]
    moved = [[np.full((1, 4, 8), 600.3, dtype=np.float32)]]
    assert compare(boxes, moved, fmt="onnx", atol=1e-3, rtol=1e-3).passed
    assert not compare(boxes, moved, fmt="onnx", atol=1e-3, rtol=1e-4).passed


def test_a_changed_top_class_fails_even_within_tolerance() -> None:
    near_tie = [[np.array([[0.5, 0.5004]], dtype=np.float32)]]
    swapped = [[np.array([[0.5004, 0.5]], dtype=np.float32)]]
    report = compare(near_tie, swapped, fmt="onnx", atol=1e-3, classification=True)
    assert report.worst_excess <= 0 and report.top1_agreement == 0.0
    assert not report.passed
    lenient = compare(
        near_tie, swapped, fmt="onnx", atol=1e-3, classification=True, min_top1_agreement=0.0
    )
    assert lenient.passed


def test_nan_answers_fail_and_the_report_stays_json() -> None:
    broken = [[np.full((1, 5), np.nan, dtype=np.float32)] for _ in range(6)]
    report = compare(LOGITS, broken, fmt="torchscript", atol=1e-3)
    assert not report.passed
    as_json = report.as_dict()
    assert as_json["passed"] is False and as_json["max_abs_diff"] is None


def test_another_shape_or_number_of_outputs_is_a_mismatch() -> None:
    wider = [[np.zeros((1, 6), dtype=np.float32)] for _ in range(6)]
    with pytest.raises(TrainingError, match="shape") as caught:
        compare(LOGITS, wider, fmt="onnx", atol=1e-3)
    assert caught.value.reason == FailureReason.EXPORT_MISMATCH
    extra = [[image[0], image[0]] for image in LOGITS]
    with pytest.raises(TrainingError, match="2 outputs"):
        compare(LOGITS, extra, fmt="onnx", atol=1e-3)


def test_a_detector_scoring_otherwise_than_its_model_fails_with_export_mismatch() -> None:
    same = {"mAP50": 0.61, "mAP50-95": 0.40}
    require_same_metrics(same, {"mAP50": 0.615, "mAP50-95": 0.40}, 0.01)  # within: passes
    with pytest.raises(TrainingError) as failed:
        require_same_metrics(same, {"mAP50": 0.61, "mAP50-95": 0.37}, 0.01)
    assert failed.value.reason == FailureReason.EXPORT_MISMATCH
    assert "mAP50-95 0.4000 (PyTorch) vs 0.3700" in str(failed.value)
    with pytest.raises(TrainingError):  # a metric the exported file lacks is no agreement
        require_same_metrics(same, {"mAP50": 0.61}, 0.01)
