"""Fine-tuning a YOLO model keeps what its log says it keeps: the whole model for the same
classes, the backbone with a new class branch for other names of the same count, and the
backbone for another count. Checked on the model training starts from (ultralytics' own
transfer by name and shape into a model built for the data set's classes), in the framework's
environment; no training."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support.processes import framework_python

SCRIPT = """
import json, os, sys, torch
from pathlib import Path
folder = Path(sys.argv[1])
os.environ["YOLO_OFFLINE"] = "1"
os.environ["YOLO_CONFIG_DIR"] = str(folder / "config")
from ultralytics.nn.tasks import DetectionModel
from trainyard_runtime.training.init_point import InitPoint
from trainyard_ultralytics.checkpoint import init_model

torch.manual_seed(0)
source = DetectionModel("yolo11n.yaml", nc=3, verbose=False)
source.names = {0: "circle", 1: "square", 2: "triangle"}
torch.save({"model": source}, folder / "source.pt")


class Spec:
    model = "yolo11n.yaml"
    task = "detection"


class Context:
    spec = Spec


seen = {}
for case, names in json.loads(sys.argv[2]).items():
    data = folder / f"{case}.yaml"
    data.write_text(json.dumps({"names": names}))
    start = init_model(Context, InitPoint(key="source.pt", checkpoint=folder / "source.pt"), data)
    trained = DetectionModel(cfg=start.model.yaml, nc=len(names), verbose=False)
    trained.load(start.model)  # what training does with the model it is given
    head, ours = source.model[-1], trained.model[-1]
    seen[case] = {
        "backbone": torch.equal(source.model[0].conv.weight, trained.model[0].conv.weight),
        "boxes": torch.equal(head.cv2[0][2].weight, ours.cv2[0][2].weight),
        "classes": head.cv3[0][2].weight.shape == ours.cv3[0][2].weight.shape
        and torch.equal(head.cv3[0][2].weight, ours.cv3[0][2].weight),
    }
print("RESULT " + json.dumps(seen))
"""

CASES = {
    "same": ["circle", "square", "triangle"],
    "renamed": ["diamond", "cross", "star"],
    "fewer": ["diamond", "cross"],
}


@pytest.fixture(scope="module")
def transferred(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    folder = tmp_path_factory.mktemp("yolo-init-head")
    done = subprocess.run(
        [str(framework_python("ultralytics")), "-c", SCRIPT, str(folder), json.dumps(CASES)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT ")), done.stdout


def test_the_same_classes_keep_the_whole_model(transferred) -> None:
    seen, log = transferred
    assert seen["same"] == {"backbone": True, "boxes": True, "classes": True}
    assert "head kept: the same 3 classes as the source model" in log


def test_other_names_of_the_same_count_start_a_new_class_branch(transferred) -> None:
    seen, log = transferred
    assert seen["renamed"] == {"backbone": True, "boxes": True, "classes": False}
    assert "head re-initialised: 3 classes → 3 classes (same count, other class names)" in log


def test_another_count_keeps_the_backbone_only(transferred) -> None:
    seen, log = transferred
    assert seen["fewer"] == {"backbone": True, "boxes": True, "classes": False}
    assert "head re-initialised: 3 classes → 2 classes" in log
