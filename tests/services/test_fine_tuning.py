"""Fine-tuning on real data: a model trained on one part of a data set, fine-tuned
(`init_from`) on another part whose classes differ, beats the same training from scratch after
the same epochs.

scikit-learn's handwritten digits (real scans, offline): digits 0-4 train the source, digits
5-9 are the new task. Each run is train.py by hand (no gateway: the gateway's resolution is
tested in tests/integration/test_fine_tuning.py), with fixed seeds. Slow: three trainings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.train_py import of_type, run_train_py
from trainyard_dev.synthetic import make_digits

# Three trainings per test, each a few minutes on a busy 2-core machine.
pytestmark = pytest.mark.timeout(3600)

SOURCE_DIGITS = (0, 1, 2, 3, 4)
TARGET_DIGITS = (5, 6, 7, 8, 9)
TIMEOUT = 2400.0  # per run: minutes on a busy 2-core machine


def source_key(job_id: str) -> str:
    return f"checkpoints/projects/tests/jobs/{job_id}/best.pt"


def _run(framework: str, tmp: Path, job_id: str, spec: dict[str, Any], **env: str):
    code, events, output, _ = run_train_py(
        framework, tmp, job_id, spec, timeout=TIMEOUT, cwd=tmp, env=env
    )
    assert code == 0, output[-4000:]
    return events, output


def final_metric(events: list[dict[str, Any]], name: str) -> float:
    return float(of_type(events, "metric")[-1]["metrics"][name])


def compare(
    framework: str,
    tmp: Path,
    source: dict[str, Any],
    target: dict[str, Any],
    metric: str,
    **env: str,
) -> tuple[float, float, str]:
    """Train `source`, then `target` from scratch and fine-tuned from the source's best.pt.

    Returns (scratch, fine-tuned, the fine-tuned run's output)."""
    _run(framework, tmp, "job-source", source, **env)
    scratch, _ = _run(framework, tmp, "job-scratch", target, **env)
    tuned_spec = {**target, "init_from": {"uri": source_key("job-source")}}
    tuned, output = _run(framework, tmp, "job-tuned", tuned_spec, **env)
    return final_metric(scratch, metric), final_metric(tuned, metric), output


def classification_spec(framework: str, data: Path, epochs: int, **fields: Any) -> dict[str, Any]:
    hyperparams = {"epochs": epochs, "batch_size": 8, "image_size": 32, "seed": 0}
    hyperparams.update(fields.pop("hyperparams", {}))
    return {
        "framework": framework,
        "task": "classification",
        "dataset": {"uri": data.as_uri(), "format": "imagefolder"},
        "hyperparams": hyperparams,
        "resources": {"gpu": 0},
        "project": "tests",
        **fields,
    }


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("digits")
    source = make_digits(root / "source", SOURCE_DIGITS, train_per_class=60, val_per_class=10)
    target = make_digits(
        root / "target", TARGET_DIGITS, train_per_class=40, val_per_class=30, seed=1
    )
    return source, target


def test_timm_fine_tuned_beats_scratch(tmp_path: Path, digits: tuple[Path, Path]) -> None:
    source_data, target_data = digits
    # A gentler rate for the one epoch on new classes: a high one would first wreck the
    # transferred features while the new head is still random.
    scratch, tuned, output = compare(
        "timm",
        tmp_path,
        classification_spec(
            "timm", source_data, 3, model="test_resnet", hyperparams={"learning_rate": 0.01}
        ),
        classification_spec(
            "timm", target_data, 1, model="test_resnet", hyperparams={"learning_rate": 0.001}
        ),
        "top1",
        HF_HOME=str(tmp_path / "hf-home"),
        TORCH_HOME=str(tmp_path / "torch-home"),
    )
    print(f"timm digits 5-9, 1 epoch: scratch top1 {scratch:.3f}, fine-tuned {tuned:.3f}")
    assert "head re-initialised: 5 classes → 5 classes" in output
    # Measured on 2 busy cores: scratch 0.220, fine-tuned 0.347 (chance: 0.2).
    assert tuned > scratch + 0.1
