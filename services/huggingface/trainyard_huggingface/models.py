"""Which models this service builds: transformers architecture families, size presets, overrides.

Nothing here imports transformers at module level: the service lists names and checks specs
without paying for that import; functions that need a config class import it when called.
"""

from __future__ import annotations

from typing import Any

# Families that AutoConfig.for_model + AutoModelForImageClassification build offline and that
# train at small image sizes (each is built and run in the tests). A bare family name means
# transformers' default config for it (e.g. "vit" = ViT-B/16, "efficientnet" = B7).
FAMILIES: tuple[str, ...] = (
    "beit",
    "convnext",
    "convnextv2",
    "deit",
    "dinov2",
    "efficientnet",
    "mobilenet_v2",
    "mobilevit",
    "poolformer",
    "pvt",
    "regnet",
    "resnet",
    "swin",
    "swinv2",
    "vit",
)

_VIT_TINY = {"hidden_size": 192, "num_attention_heads": 3, "intermediate_size": 768}
_VIT_SMALL = {"hidden_size": 384, "num_attention_heads": 6, "intermediate_size": 1536}

# Preset name -> (family, config overrides), the sizes of the published models of that name.
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "vit-tiny": ("vit", _VIT_TINY),
    "vit-small": ("vit", _VIT_SMALL),
    "vit-base": ("vit", {}),
    "deit-tiny": ("deit", _VIT_TINY),
    "deit-small": ("deit", _VIT_SMALL),
    "deit-base": ("deit", {}),
    "convnext-tiny": ("convnext", {}),
    "convnext-small": ("convnext", {"depths": [3, 3, 27, 3]}),
    "convnext-base": ("convnext", {"hidden_sizes": [128, 256, 512, 1024], "depths": [3, 3, 27, 3]}),
    "swin-tiny": ("swin", {}),
    "swin-small": ("swin", {"depths": [2, 2, 18, 2]}),
    "swin-base": ("swin", {"embed_dim": 128, "depths": [2, 2, 18, 2], "num_heads": [4, 8, 16, 32]}),
    "resnet-18": (
        "resnet",
        {"layer_type": "basic", "depths": [2, 2, 2, 2], "hidden_sizes": [64, 128, 256, 512]},
    ),
    "resnet-34": (
        "resnet",
        {"layer_type": "basic", "depths": [3, 4, 6, 3], "hidden_sizes": [64, 128, 256, 512]},
    ),
    "resnet-50": ("resnet", {}),
    "efficientnet-b0": (
        "efficientnet",
        {
            "width_coefficient": 1.0,
            "depth_coefficient": 1.0,
            "hidden_dim": 1280,
            "dropout_rate": 0.2,
        },
    ),
    "dinov2-small": ("dinov2", {"hidden_size": 384, "num_attention_heads": 6}),
    "dinov2-base": ("dinov2", {}),
    "mobilevit-small": ("mobilevit", {}),
    "mobilevit-x-small": (
        "mobilevit",
        {"hidden_sizes": [96, 120, 144], "neck_hidden_sizes": [16, 32, 48, 64, 80, 96, 384]},
    ),
}

# Where pretrained=true looks for the weights of a family/preset name (in the local HF cache).
HUB_WEIGHTS: dict[str, str] = {
    "vit": "google/vit-base-patch16-224",
    "vit-base": "google/vit-base-patch16-224",
    "deit": "facebook/deit-base-patch16-224",
    "deit-tiny": "facebook/deit-tiny-patch16-224",
    "deit-small": "facebook/deit-small-patch16-224",
    "deit-base": "facebook/deit-base-patch16-224",
    "convnext": "facebook/convnext-tiny-224",
    "convnext-tiny": "facebook/convnext-tiny-224",
    "convnext-small": "facebook/convnext-small-224",
    "convnext-base": "facebook/convnext-base-224",
    "swin": "microsoft/swin-tiny-patch4-window7-224",
    "swin-tiny": "microsoft/swin-tiny-patch4-window7-224",
    "swin-small": "microsoft/swin-small-patch4-window7-224",
    "swin-base": "microsoft/swin-base-patch4-window7-224",
    "resnet": "microsoft/resnet-50",
    "resnet-18": "microsoft/resnet-18",
    "resnet-34": "microsoft/resnet-34",
    "resnet-50": "microsoft/resnet-50",
    "efficientnet-b0": "google/efficientnet-b0",
    "dinov2": "facebook/dinov2-base",
    "dinov2-small": "facebook/dinov2-small",
    "dinov2-base": "facebook/dinov2-base",
    "mobilevit": "apple/mobilevit-small",
    "mobilevit-small": "apple/mobilevit-small",
    "mobilevit-x-small": "apple/mobilevit-x-small",
    "mobilenet_v2": "google/mobilenet_v2_1.0_224",
}

# Set from the job and the dataset, or fixed by the data (RGB images): not overridable.
RESERVED_KEYS = frozenset(
    {
        "image_size",
        "num_labels",
        "id2label",
        "label2id",
        "num_channels",
        "architectures",
        "model_type",
        "problem_type",
        "transformers_version",
        "return_dict",
        "dtype",
        "torch_dtype",
    }
)


def accepted_names() -> list[str]:
    return sorted(FAMILIES) + sorted(PRESETS)


def family_of(model: str) -> tuple[str, dict[str, Any]] | None:
    """(family, preset overrides) for a family or preset name; None for anything else."""
    if model in FAMILIES:
        return model, {}
    return PRESETS.get(model)


def is_external(model: str) -> bool:
    """A hub id (`org/name`) or a local directory: only usable with pretrained weights."""
    return "/" in model


def pretrained_source(model: str) -> str | None:
    """The hub id or local directory whose weights pretrained=true loads for `model`."""
    if is_external(model):
        return model
    return HUB_WEIGHTS.get(model)


def weights_name(model: str) -> str:
    """The name a model's pretrained weights go by in the weights tiers: the hub id a family
    or preset stands for, else the model as given."""
    return pretrained_source(model) or model


def _type_ok(default: Any, value: Any) -> bool:
    def scalar(v: Any) -> bool:
        return isinstance(v, int | float | str | bool)

    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, list | tuple):
        if not isinstance(value, list) or not all(scalar(v) for v in value):
            return False
        # Entries follow the default's first entry (an int list takes ints, a float list numbers).
        return not default or all(_type_ok(default[0], v) for v in value)
    if default is None:
        return (
            value is None
            or scalar(value)
            or (isinstance(value, list) and all(scalar(v) for v in value))
        )
    return False  # dicts and objects (sub-configs) are not overridable here


def import_transformers() -> None:
    """Load transformers' config classes once, before the service takes requests."""
    from transformers import AutoConfig  # noqa: F401


def check_overrides(family: str, overrides: dict[str, Any]) -> list[dict[str, Any]]:
    """Problems with options.config_overrides for a family: unknown keys or wrong value types."""
    from transformers import AutoConfig

    defaults = AutoConfig.for_model(family).to_dict()
    allowed = sorted(
        k
        for k, v in defaults.items()
        if k not in RESERVED_KEYS and not k.startswith("_") and not isinstance(v, dict)
    )
    problems = []
    for key, value in overrides.items():
        field = f"options.config_overrides.{key}"
        if key not in allowed:
            message = (
                "set from the job or the dataset, not overridable"
                if key in RESERVED_KEYS
                else f"not a {family} config attribute"
            )
            problems.append({"field": field, "message": message, "allowed": allowed})
        elif not _type_ok(defaults[key], value):
            kind = type(defaults[key]).__name__ if defaults[key] is not None else "scalar or list"
            problems.append(
                {
                    "field": field,
                    "message": f"expected {kind} like {defaults[key]!r}, got {value!r}",
                }
            )
    return problems
