"""Running a model in the runtime an exported file is for, and exporting a plain torch module.

ONNX files run in onnxruntime (installed in each service's environment, not the gateway's) and
TorchScript files in `torch.jit.load`: the exported file is judged where it will be used, never
through the PyTorch code that wrote it. torch and onnxruntime are imported when called.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# Each image's outputs, batch axis first: what a model answers for one (1, C, H, W) input.
Runner = Callable[[np.ndarray], list[np.ndarray]]

SUFFIXES: dict[str, str] = {"onnx": ".onnx", "torchscript": ".torchscript"}


def flatten_outputs(value: Any) -> list[np.ndarray]:
    """A model's answer (a tensor, or tuples/lists/dicts of them) as a flat list of arrays."""
    if isinstance(value, dict):
        return [array for each in value.values() for array in flatten_outputs(each)]
    if isinstance(value, list | tuple):
        return [array for each in value for array in flatten_outputs(each)]
    if hasattr(value, "detach"):
        return [value.detach().cpu().float().numpy()]
    if isinstance(value, np.ndarray):
        return [value]
    return []  # None and metadata carry no numbers to compare


def onnx_runner(path: Path) -> Runner:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(image: np.ndarray) -> list[np.ndarray]:
        return [np.asarray(out) for out in session.run(None, {name: image.astype(np.float32)})]

    return run


def torchscript_runner(path: Path) -> Runner:
    import torch

    module = torch.jit.load(str(path), map_location="cpu").eval()

    def run(image: np.ndarray) -> list[np.ndarray]:
        with torch.inference_mode():
            return flatten_outputs(module(torch.from_numpy(image)))

    return run


def exported_runner(path: Path, fmt: str) -> Runner:
    runners = {"onnx": onnx_runner, "torchscript": torchscript_runner}
    return runners[fmt](path)


def torch_runner(module: Any) -> Runner:
    """The PyTorch model itself, the reference an export is held to."""
    import torch

    def run(image: np.ndarray) -> list[np.ndarray]:
        with torch.inference_mode():
            return flatten_outputs(module(torch.from_numpy(image)))

    return run


def export_module(module: Any, fmt: str, sample: np.ndarray, path: Path) -> Path:
    """Export a torch module taking one image batch: ONNX (one self-contained file, batch axis
    dynamic) or TorchScript (traced)."""
    import torch

    example = torch.from_numpy(sample)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "onnx":
        batch = torch.export.Dim("batch", min=1, max=1024)
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=["images"],
            output_names=["output"],
            dynamic_shapes=({0: batch},),
            external_data=False,
        )
    elif fmt == "torchscript":
        with torch.no_grad():
            traced = torch.jit.trace(module, example, strict=False)
        traced.save(str(path))
    else:
        raise ValueError(f"no generic exporter for {fmt!r}")
    return path
