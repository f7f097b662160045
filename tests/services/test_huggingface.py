"""The Hugging Face service for real: train.py as a subprocess on tiny synthetic data, the HTTP
service, and every model family it lists built and run.

The test process has no torch: everything transformers runs in `.venvs/huggingface`.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.hub_server import HubServer
from tests.support.pretrained_runs import assert_tiers, three_runs
from tests.support.train_py import (
    STALLING_EPOCHS,
    assert_stopped_after_epoch_3,
    checkpoint,
    of_type,
    run_train_py,
    sha256,
    stalling,
)
from trainyard_dev.launcher import environment_python
from trainyard_dev.synthetic import make_classification

REPO = Path(__file__).resolve().parents[2]
PYTHON = environment_python(REPO, "huggingface")
TINY_VIT = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "patch_size": 8,
}
METRICS = {"train_loss", "val_loss", "accuracy"}


def spec(data: Path, **overrides: Any) -> dict[str, Any]:
    hyperparams = {"epochs": 2, "batch_size": 8, "image_size": 32, "learning_rate": 0.002}
    hyperparams.update(overrides.pop("hyperparams", {}))
    job = {
        "framework": "huggingface",
        "task": "classification",
        "model": "vit",
        "dataset": {"uri": data.as_uri(), "format": "imagefolder"},
        "hyperparams": hyperparams,
        "options": {"config_overrides": TINY_VIT},
        "resources": {"gpu": 0},
        "project": "tests",
    }
    return {**job, **overrides}


def run_train(tmp: Path, job_id: str, job_spec: dict[str, Any], timeout: float = 180, **env: str):
    """Run train.py with no CALLBACK_URL; return (exit code, events, output, seconds)."""
    return run_train_py(
        "huggingface",
        tmp,
        job_id,
        job_spec,
        timeout=timeout,
        env={
            "HF_HOME": str(tmp / "hf-home"),  # an empty cache unless a test fills it
            **env,
        },
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hf-data") / "shapes"
    return make_classification(root, train_per_class=8, val_per_class=4, size=32)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, data: Path):
    """One real 2-epoch training run, shared by the tests that inspect its results."""
    tmp = tmp_path_factory.mktemp("hf-train")
    code, events, output, seconds = run_train(tmp, "hf-e2e", spec(data))
    print(f"\ntraining (2 epochs) took {seconds:.1f}s")
    return tmp, code, events, output


PROBE = """
import json, sys, torch
from pathlib import Path
from PIL import Image
from torchvision import transforms
from transformers import AutoConfig, AutoModelForImageClassification, ViTConfig
from transformers import ViTForImageClassification
from trainyard_huggingface import models
from trainyard_huggingface.build import _with_architecture, load_checkpoint

checkpoint, image, hf_home, tiny_vit = sys.argv[1:5]
tiny_vit = json.loads(tiny_vit)

# 1. The trained checkpoint rebuilds with no hub and classifies a val image.
model, payload = load_checkpoint(checkpoint)
t = transforms.Compose([transforms.Resize((32, 32)), transforms.ToTensor(),
                        transforms.Normalize(payload["image_mean"], payload["image_std"])])
with torch.no_grad():
    logits = model(pixel_values=t(Image.open(image).convert("RGB"))[None]).logits
info = {k: payload[k] for k in ("epoch", "image_size", "id2label", "metrics")}
print("checkpoint", type(model).__name__, "x".join(map(str, logits.shape)), json.dumps(info))

# 2. Each family builds tiny and trains a step at 32 px; each preset builds at full size.
VIT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
           patch_size=8)
SWIN = dict(embed_dim=16, depths=[1, 1], num_heads=[1, 2], window_size=4, patch_size=2)
STAGES = dict(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1])
TINY = {
    "vit": VIT, "deit": VIT, "beit": VIT,
    "dinov2": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, patch_size=8),
    "swin": SWIN, "swinv2": SWIN,
    "convnext": dict(hidden_sizes=[16, 32], depths=[1, 1], num_stages=2),
    "convnextv2": dict(hidden_sizes=[16, 32], depths=[1, 1], num_stages=2),
    "resnet": dict(STAGES, layer_type="basic"),
    "regnet": dict(STAGES, groups_width=8),
    "efficientnet": dict(width_coefficient=0.25, depth_coefficient=0.2, hidden_dim=320),
    "mobilevit": dict(hidden_sizes=[16, 16, 16], neck_hidden_sizes=[8] * 5 + [16, 32],
                      num_attention_heads=2),
    "mobilenet_v2": dict(depth_multiplier=0.25),
    "poolformer": dict(hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1]),
    "pvt": dict(hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1],
                num_attention_heads=[1, 1, 2, 2]),
}
assert set(TINY) == set(models.FAMILIES), set(models.FAMILIES) ^ set(TINY)
labels = dict(num_labels=3, id2label={0: "a", 1: "b", 2: "c"}, label2id={"a": 0, "b": 1, "c": 2})
for family, overrides in TINY.items():
    assert models.check_overrides(family, overrides) == [], family
    config = AutoConfig.for_model(family, **overrides, **labels)
    if hasattr(config, "image_size"):
        config.image_size = 32
    net = AutoModelForImageClassification.from_config(_with_architecture(config))
    out = net(pixel_values=torch.randn(2, 3, 32, 32), labels=torch.tensor([0, 2]))
    out.loss.backward()
    assert out.logits.shape == (2, 3), family
    print("family", family)
for name, (family, overrides) in models.PRESETS.items():
    assert models.check_overrides(family, overrides) == [], name
    # 1000 classes, as the published models have, so parameter counts compare.
    config = AutoConfig.for_model(family, **overrides, num_labels=1000)
    with torch.device("meta"):  # full size, without the memory or the init time
        net = AutoModelForImageClassification.from_config(_with_architecture(config))
    print("preset", name, sum(p.numel() for p in net.parameters()))

# 3. A tiny ViT "downloaded" into a hub cache (the layout huggingface_hub writes).
repo = Path(hf_home) / "hub" / "models--trainyard--tiny-vit"
commit = "0" * 40
config = ViTConfig(**tiny_vit, image_size=32, num_labels=5)
ViTForImageClassification(config).save_pretrained(repo / "snapshots" / commit)
(repo / "refs").mkdir(parents=True)
(repo / "refs" / "main").write_text(commit)
print("cache", hf_home)
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory, trained, data: Path) -> dict[str, Any]:
    """One framework subprocess that checks the checkpoint, builds every model name, and fills
    a hub cache for the pretrained test (one process: transformers takes ~15 s to import)."""
    tmp, code, _, output = trained
    assert code == 0, output
    hf_home = tmp_path_factory.mktemp("hf-cache")
    image = next((data / "val" / "circle").iterdir())
    last = checkpoint(tmp, "hf-e2e", "last.pt")
    argv = [str(PYTHON), "-c", PROBE, str(last), str(image), str(hf_home), json.dumps(TINY_VIT)]
    proc = subprocess.run(
        argv,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(hf_home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line.split(" ", 1) for line in proc.stdout.splitlines()]
    result: dict[str, Any] = {"families": set(), "presets": {}, "hf_home": hf_home}
    for kind, rest in lines:
        if kind == "family":
            result["families"].add(rest)
        elif kind == "preset":
            name, params = rest.split()
            result["presets"][name] = int(params)
        elif kind == "checkpoint":
            result["checkpoint"] = rest
    return result


@pytest.mark.e2e
def test_train_end_to_end_reports_epochs_and_checkpoints(trained):
    tmp, code, events, output = trained
    assert code == 0, output
    metrics = of_type(events, "metric")
    assert [m["epoch"] for m in metrics] == [1, 2], output
    for m in metrics:
        assert m["total_epochs"] == 2
        assert set(m["metrics"]) == METRICS
        assert all(isinstance(v, float) for v in m["metrics"].values())
        assert 0.0 <= m["metrics"]["accuracy"] <= 1.0
    statuses = [e["state"] for e in of_type(events, "status")]
    assert statuses == ["running", "succeeded"]
    final = of_type(events, "status")[-1]["metrics"]
    assert final["accuracy"] == metrics[-1]["metrics"]["accuracy"]
    assert final["best_accuracy"] == max(m["metrics"]["accuracy"] for m in metrics)
    assert {a["name"] for a in of_type(events, "artifact")} == {"best.pt", "last.pt"}
    assert checkpoint(tmp, "hf-e2e", "best.pt").is_file()
    assert checkpoint(tmp, "hf-e2e", "last.pt").is_file()


def checkpoint_record(path: Path) -> dict[str, Any]:
    """The epoch and metrics a checkpoint recorded (read in the huggingface environment)."""
    code = (
        "import json, sys, torch; c = torch.load(sys.argv[1], weights_only=False); "
        "print(json.dumps({'epoch': c['epoch'], 'metrics': c['metrics']}))"
    )
    out = subprocess.run(
        [str(PYTHON), "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


@pytest.mark.e2e
def test_early_stopping_ends_the_run_with_the_best_checkpoint_of_its_epochs(
    tmp_path: Path, data: Path
) -> None:
    """Accuracy never rises by 10: the 6-epoch run stops after epoch 3, and its best.pt is the
    one a 3-epoch run without early stopping ends with (constant learning rate, same seed)."""
    constant = {**spec(data)["options"], "lr_scheduler": "constant"}
    stopped = run_train(
        tmp_path,
        "hf-stopped",
        spec(
            data,
            hyperparams={"epochs": STALLING_EPOCHS, "seed": 5},
            options=constant,
            early_stopping=stalling("accuracy"),
        ),
    )
    assert_stopped_after_epoch_3(stopped, "accuracy")
    assert {a["name"] for a in of_type(stopped[1], "artifact")} == {"best.pt", "last.pt"}
    assert checkpoint_record(checkpoint(tmp_path, "hf-stopped", "last.pt"))["epoch"] == 3

    full = run_train(
        tmp_path, "hf-3", spec(data, hyperparams={"epochs": 3, "seed": 5}, options=constant)
    )
    assert full[0] == 0, full[2]
    # The same training up to epoch 3: the same metrics, the same best checkpoint.
    assert [m["metrics"] for m in of_type(full[1], "metric")] == [
        m["metrics"] for m in of_type(stopped[1], "metric")
    ]
    best_stopped = checkpoint(tmp_path, "hf-stopped", "best.pt")
    best_full = checkpoint(tmp_path, "hf-3", "best.pt")
    assert checkpoint_record(best_stopped) == checkpoint_record(best_full)
    assert sha256(best_stopped) == sha256(best_full)


@pytest.mark.e2e
def test_checkpoint_rebuilds_without_the_hub(probe):
    kind, shape, info = probe["checkpoint"].split(" ", 2)
    assert kind == "ViTForImageClassification"
    assert shape == "1x3"
    info = json.loads(info)
    assert info["epoch"] == 2 and info["image_size"] == 32
    assert info["id2label"] == {"0": "circle", "1": "square", "2": "triangle"}
    assert set(info["metrics"]) == METRICS


@pytest.mark.e2e
def test_every_listed_family_and_preset_builds(probe):
    assert len(probe["families"]) == 15
    presets = probe["presets"]
    assert len(presets) == 20
    published = {  # millions of parameters of the published models, 1000 classes
        "vit-tiny": 5.7,
        "vit-small": 22.1,
        "vit-base": 86.6,
        "resnet-18": 11.7,
        "resnet-50": 25.6,
        "convnext-tiny": 28.6,
        "swin-tiny": 28.3,
        "efficientnet-b0": 5.3,
    }
    for name, millions in published.items():
        assert abs(presets[name] / 1e6 - millions) < 0.05 * millions, (name, presets[name])


@pytest.mark.e2e
def test_pretrained_weights_come_from_the_hub_then_storage_then_the_cache(
    tmp_path: Path, data: Path, probe
):
    """pretrained=true takes a hub id through the tiers (a local hub server serves it), loads it
    with a new head at another image size (48 px: the 32 px position embeddings must be
    interpolated) and sgd; then from storage with the hub stopped, then from the local cache."""
    (snapshot,) = (probe["hf_home"] / "hub" / "models--trainyard--tiny-vit" / "snapshots").iterdir()
    hub = HubServer().start()
    hub.add_repo("trainyard/tiny-vit", snapshot)
    job = spec(
        data,
        model="trainyard/tiny-vit",
        options={},
        hyperparams={"epochs": 1, "pretrained": True, "image_size": 48, "optimizer": "sgd"},
    )
    try:
        events = three_runs(tmp_path, "huggingface", job, hub, {"HF_ENDPOINT": hub.url})
    finally:
        hub.stop()
    assert_tiers(tmp_path, "huggingface", "trainyard--tiny-vit", events)
    assert f"{hub.url}/trainyard/tiny-vit" in events[0]["source"]
    assert any(path.endswith("/model.safetensors") for path in hub.files_fetched())


@pytest.mark.e2e
def test_pretrained_with_no_tier_able_to_serve_fails_fast(tmp_path: Path, data: Path):
    job = spec(data, model="vit-base", options={}, hyperparams={"pretrained": True})
    code, events, output, _ = run_train(
        tmp_path,
        "hf-nopre",
        job,
        timeout=120,
        WEIGHTS_CACHE_DIR=str(tmp_path / "weights-cache"),
        HF_ENDPOINT="http://127.0.0.1:9",  # nothing listens on the discard port
    )
    assert code == 1, output
    final = of_type(events, "status")[-1]
    assert final["state"] == "failed"
    assert final["reason"] == "pretrained_unavailable"
    assert "http://127.0.0.1:9/google/vit-base-patch16-224" in final["message"]
    assert "1) cache: no entry" in final["message"] and "2) storage: no copy" in final["message"]
    assert of_type(events, "metric") == []  # before any training


@pytest.mark.e2e
def test_bad_dataset_layout_fails_with_reason(tmp_path: Path):
    broken = make_classification(tmp_path / "broken", train_per_class=2, val_per_class=1, size=16)
    for f in (broken / "val" / "square").iterdir():
        f.unlink()
    (broken / "val" / "square").rmdir()
    code, events, output, _ = run_train(tmp_path, "hf-bad", spec(broken), timeout=60)
    assert code == 1, output
    final = of_type(events, "status")[-1]
    assert final["reason"] == "dataset_invalid"
    assert "square" in final["message"]


def test_service_health_capabilities_and_validation(start_service, internal_headers, data):
    _, base = start_service("huggingface")
    health = httpx.get(f"{base}/health", timeout=30).json()
    assert health["framework"] == "huggingface"
    assert {"transformers", "torch", "accelerate"} <= set(health["versions"])
    assert health["versions"]["transformers"] != "not installed"
    assert health["device"]

    caps = httpx.get(f"{base}/v1/capabilities", headers=internal_headers, timeout=30).json()
    assert set(caps["tasks"]) == {"classification"}
    classification = caps["tasks"]["classification"]
    assert classification["dataset_formats"] == ["imagefolder"]
    assert {"vit", "deit", "convnext", "resnet", "vit-tiny", "resnet-18"} <= set(
        classification["models"]
    )
    assert classification["models_exhaustive"] is True
    assert {"config_overrides", "lr_scheduler", "warmup_ratio", "momentum"} <= set(
        caps["options_schema"]["properties"]
    )

    def validate(job: dict[str, Any]) -> httpx.Response:
        return httpx.post(
            f"{base}/v1/validate", json={"spec": job}, headers=internal_headers, timeout=60
        )

    def fields(response: httpx.Response) -> dict[str, dict[str, Any]]:
        assert response.status_code == 422, response.text
        return {e["field"]: e for e in response.json()["errors"]}

    assert validate(spec(data)).status_code == 200
    assert validate(spec(data, model="resnet-18", options={})).status_code == 200
    ok_pretrained = spec(data, model="google/vit-base-patch16-224", options={})
    ok_pretrained["hyperparams"]["pretrained"] = True
    assert validate(ok_pretrained).status_code == 200

    unknown = fields(validate(spec(data, model="no-such-net")))
    assert "vit-small" in unknown["model"]["allowed"]
    assert "task" in fields(validate(spec(data, task="detection")))
    assert "dataset.format" in fields(
        validate(spec(data, dataset={"uri": data.as_uri(), "format": "yolo"}))
    )
    assert "options.colour" in fields(validate(spec(data, options={"colour": "red"})))
    assert validate(spec(data, early_stopping={"metric": "accuracy"})).status_code == 200
    unknown_metric = fields(validate(spec(data, early_stopping={"metric": "top1"})))
    assert unknown_metric["early_stopping.metric"]["allowed"] == [
        "val_loss",
        "accuracy",
        "train_loss",
    ]
    assert "options.warmup_ratio" in fields(validate(spec(data, options={"warmup_ratio": 3})))
    bad_key = fields(validate(spec(data, options={"config_overrides": {"hidden_sise": 8}})))
    assert "hidden_size" in bad_key["options.config_overrides.hidden_sise"]["allowed"]
    bad_type = spec(data, options={"config_overrides": {"num_hidden_layers": "two"}})
    assert "options.config_overrides.num_hidden_layers" in fields(validate(bad_type))
    reserved = spec(data, options={"config_overrides": {"image_size": 64}})
    assert "options.config_overrides.image_size" in fields(validate(reserved))
    # A hub id only makes sense with pretrained weights; presets without published weights
    # need seeded ones.
    assert "model" in fields(validate(spec(data, model="google/vit-base-patch16-224")))
    no_weights = spec(data, model="vit-tiny", options={})
    no_weights["hyperparams"]["pretrained"] = True
    assert "hyperparams.pretrained" in fields(validate(no_weights))
