"""best.pt is written only before an upload, from weights kept in memory at the best epoch:
what it holds is that epoch's weights, not the ones later steps changed in place. Checked with
timm's model and checkpoint writer, in its environment; no training."""

from __future__ import annotations

import json
import subprocess

from tests.support.processes import framework_python

SCRIPT = """
import functools, json, sys, torch
from pathlib import Path
from trainyard_runtime.training.best_weights import BestWeights
from trainyard_timm import model as models
from trainyard_timm.loop import _save_weights

class Spec:
    model = "test_resnet"

class Context:
    spec = Spec

path = Path(sys.argv[1]) / "best.pt"
model = models.create("test_resnet", 3, 0.0, None)
best = BestWeights(path, functools.partial(_save_weights, ctx=Context))
best.keep(model, epoch=2)
kept = {k: v.clone() for k, v in model.state_dict().items()}
with torch.no_grad():  # what the next optimizer steps do: change the weights in place
    for p in model.parameters():
        p.add_(1.0)
written_before = path.exists()
best.write()
saved = torch.load(path, weights_only=False)
print("RESULT " + json.dumps({
    "written_before": written_before,
    "epoch": saved["epoch"],
    "kept": all(torch.equal(saved["state_dict"][k], v) for k, v in kept.items()),
}))
"""


def test_best_pt_holds_the_kept_epochs_weights(tmp_path) -> None:
    out = subprocess.run(
        [str(framework_python("timm")), "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.split("RESULT ", 1)[1])
    assert result == {"written_before": False, "epoch": 2, "kept": True}
