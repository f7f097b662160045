"""The job spec: what a user asks Trainyard to train. Unknown fields are refused everywhere."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

Task = Literal["classification", "detection", "segmentation", "pose"]
DatasetFormat = Literal["imagefolder", "yolo", "coco"]
ExecutorName = Literal["subprocess", "kubernetes"]
# What a job does: train a model, or export or evaluate one a training job made. Every kind
# goes through the same queue, services, executors and events; the service runs
# `python -m trainyard_<framework>.<kind>` for it.
JobKind = Literal["train", "export", "evaluate"]
JOB_KINDS: tuple[str, ...] = ("train", "export", "evaluate")
CheckpointName = Literal["best", "last"]
# Export formats across frameworks; each service says which its tasks offer (export_formats).
ExportFormat = Literal["onnx", "torchscript"]
EXPORT_FORMATS: tuple[str, ...] = ("onnx", "torchscript")

TASKS: tuple[str, ...] = ("classification", "detection", "segmentation", "pose")
DATASET_FORMATS: tuple[str, ...] = ("imagefolder", "yolo", "coco")

# Names that end up in storage keys, Kubernetes labels and file names: keep them boring.
SAFE_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetRef(StrictModel):
    uri: str = Field(
        min_length=1,
        max_length=2048,
        description="A local path, file://…, s3://bucket/prefix, or a registered dataset id.",
    )
    format: DatasetFormat


class Hyperparams(StrictModel):
    epochs: int = Field(10, ge=1, le=10_000)
    batch_size: int = Field(16, ge=1, le=4096)
    learning_rate: float = Field(1e-3, gt=0, le=10)
    image_size: int = Field(224, ge=16, le=4096)
    optimizer: Literal["sgd", "adam", "adamw"] = "adamw"
    weight_decay: float = Field(0.0, ge=0, le=1)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    pretrained: bool = False
    workers: int = Field(0, ge=0, le=64, description="Data loader worker processes.")


class Resources(StrictModel):
    cpu: float = Field(1.0, gt=0, le=512)
    memory: str = Field("2Gi", pattern=r"^[1-9][0-9]*(\.[0-9]+)?(Ki|Mi|Gi|Ti)?$")
    gpu: int | None = Field(
        None,
        ge=0,
        le=16,
        description="GPUs to use: none given = a GPU if the machine has one, 0 = CPU only.",
    )


class Distributed(StrictModel):
    """One job spread over processes and machines (torchrun and DDP underneath).

    The world is `nodes x processes_per_node` processes; `hyperparams.batch_size` stays the
    global batch (each process takes `batch_size / world size` of it), so a distributed run
    and a single-process run of the same spec see the same batches per step.
    """

    nodes: int = Field(1, ge=1, le=64, description="Machines (pods) the job runs on.")
    processes_per_node: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Training processes per node (default: resources.gpu when GPUs are "
        "asked for, else 1).",
    )


def processes_per_node(spec: JobSpec) -> int:
    """The processes per node a spec asks for: as given, else one per GPU, else one."""
    given = spec.distributed.processes_per_node
    if given is not None:
        return given
    return spec.resources.gpu or 1


def capacity_slots(spec: JobSpec, counts_processes: bool) -> int:
    """The share of a service's capacity one run of `spec` takes: its processes on one node
    where the service counts processes (its executor runs on the service's machine), else one
    run. The service and the gateway both count with this, so their counts agree."""
    return processes_per_node(spec) if counts_processes else 1


def world_size(spec: JobSpec) -> int:
    """How many training processes the job runs in all."""
    return spec.distributed.nodes * processes_per_node(spec)


def default_mode(metric: str) -> Literal["max", "min"]:
    """The direction a metric improves in when the spec does not say: losses fall, scores rise."""
    return "min" if "loss" in metric else "max"


class EarlyStopping(StrictModel):
    """Stop training once `metric` has not improved by more than `min_delta` for `patience`
    epochs in a row; the job still succeeds, with its best and last checkpoints."""

    metric: str = Field(
        min_length=1,
        max_length=100,
        description="A metric the framework reports per epoch (GET /v1/frameworks lists them).",
    )
    mode: Literal["max", "min"] | None = Field(
        None,
        description="max: higher is better, min: lower is better (default: min for "
        "a name with 'loss' in it, max otherwise).",
    )
    patience: int = Field(3, ge=1, le=10_000, description="Epochs without improvement to stop.")
    min_delta: float = Field(
        0.0, ge=0, description="How much the metric must beat its best by to count as better."
    )

    @model_validator(mode="after")
    def _fill_mode(self) -> EarlyStopping:
        if self.mode is None:
            self.mode = default_mode(self.metric)
        return self


# A registered model's name in the model registry (MLflow's names are freer; ours stay boring).
MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
CHECKPOINT_NAMES: tuple[str, ...] = ("best", "last")


class InitFromJob(StrictModel):
    """Start from a checkpoint of an earlier Trainyard job."""

    job: str = Field(pattern=r"^job-[A-Za-z0-9_-]{1,60}$", description="The id of a job.")
    checkpoint: Literal["best", "last"] = "best"


class InitFromUri(StrictModel):
    """Start from a checkpoint file in this deployment's storage (key or URI)."""

    uri: str = Field(
        min_length=1,
        max_length=2048,
        description="A checkpoint's storage key or URI (s3://…, file://…) under checkpoints/.",
    )


class InitFromModel(StrictModel):
    """Start from a version of a model in the model registry (`GET /v1/models`)."""

    model: str = Field(pattern=MODEL_NAME, description="A registered model's name.")
    version: int = Field(ge=1, le=1_000_000)


def _init_from_kind(value: Any) -> str | None:
    """Which of the three forms a value is, by the key that names its source."""
    for kind in ("job", "uri", "model"):
        keys = (
            value
            if isinstance(value, dict)
            else vars(value)
            if isinstance(value, BaseModel)
            else {}
        )
        if kind in keys:
            return kind
    return None


InitFrom = Annotated[
    Annotated[InitFromJob, Tag("job")]
    | Annotated[InitFromUri, Tag("uri")]
    | Annotated[InitFromModel, Tag("model")],
    Discriminator(
        _init_from_kind,
        custom_error_type="init_from_form",
        custom_error_message="init_from must be one of {'job': 'job-…', 'checkpoint': "
        "'best'|'last'}, {'uri': '<checkpoint key or URI>'} or {'model': '<registered "
        "name>', 'version': N}",
    ),
]


class ModelSource(StrictModel):
    """The trained model an export or evaluation job works on: a training job's checkpoint."""

    job_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    checkpoint: CheckpointName = "best"
    key: str | None = Field(
        None,
        max_length=2048,
        description="The checkpoint's storage key (the gateway fills it in from the job).",
    )


class ExportSettings(StrictModel):
    """How an export job exports its source model and checks the exported file."""

    format: ExportFormat
    # The largest absolute difference between the exported model's outputs and PyTorch's on
    # the validation images (after softmax for classifiers) that still counts as the same model.
    atol: float = Field(1e-3, gt=0, le=1)
    # The share of validation images on which both must agree on the top class.
    min_top1_agreement: float = Field(1.0, ge=0, le=1)
    max_images: int = Field(32, ge=1, le=1000, description="Validation images compared.")
    # Detection, segmentation and pose: the largest difference of mAP50 or mAP50-95 (boxes) on
    # the validation split between the exported file and the PyTorch model.
    max_map_diff: float = Field(0.01, ge=0, le=1)


class JobSpec(StrictModel):
    framework: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    task: Task
    # A model name, or a local path for pretrained weights (hence `/` and a leading `/`).
    model: str = Field(min_length=1, max_length=500, pattern=r"^[A-Za-z0-9/][A-Za-z0-9._/-]*$")
    dataset: DatasetRef
    hyperparams: Hyperparams = Field(default_factory=Hyperparams)
    options: dict[str, Any] = Field(
        default_factory=dict, description="Framework-specific, checked by that service's schema."
    )
    resources: Resources = Field(default_factory=Resources)
    executor: ExecutorName | None = None
    project: str = Field("default", pattern=SAFE_NAME)
    name: str | None = Field(None, max_length=200)
    priority: int = Field(0, ge=-100, le=100)
    resume_from: str | None = Field(
        None,
        max_length=2048,
        description="A checkpoint to continue from: a job id, or a checkpoint's storage key or "
        "URI (under checkpoints/ in this deployment's storage).",
    )
    init_from: InitFrom | None = Field(
        None,
        description="Fine-tune: start a new training (fresh optimizer, epoch 1) from these "
        "weights; a classification head whose classes differ is re-initialised.",
    )
    register_as: str | None = Field(
        None,
        pattern=MODEL_NAME,
        description="On success, register the best checkpoint as a new version of this model "
        "in the model registry (MLflow).",
    )
    max_retries: int = Field(
        0,
        ge=0,
        le=10,
        description="Further attempts, each from the last checkpoint, when a run is lost, "
        "OOM-killed or evicted.",
    )
    early_stopping: EarlyStopping | None = Field(
        None, description="Stop before hyperparams.epochs when a metric stops improving."
    )
    distributed: Distributed = Field(
        default_factory=Distributed,
        description="Train over several processes and nodes (default: one process).",
    )

    @field_validator("init_from")
    @classmethod
    def _one_starting_point(cls, value: Any, info: ValidationInfo) -> Any:
        """Reported on `init_from` (declared after both), so the error names that field."""
        if value is None:
            return value
        if info.data.get("resume_from") is not None:
            raise ValueError(
                "init_from and resume_from exclude each other: resume_from continues a "
                "training (its optimizer and epoch), init_from starts a new one from its "
                "weights; give one of them"
            )
        hyperparams = info.data.get("hyperparams")
        if hyperparams is not None and hyperparams.pretrained:
            raise ValueError(
                "init_from and hyperparams.pretrained=true both choose the starting weights: "
                "give init_from alone, or pretrained=true without init_from"
            )
        return value

    kind: JobKind = "train"
    source: ModelSource | None = Field(
        None, description="For kind export and evaluate: the training job's model to use."
    )
    export: ExportSettings | None = Field(None, description="For kind export: the format.")

    @model_validator(mode="after")
    def _kind_fields(self) -> JobSpec:
        if self.kind == "train" and (self.source is not None or self.export is not None):
            raise ValueError("source and export are for kind export or evaluate, not train")
        if self.kind != "train" and self.source is None:
            raise ValueError(f"a job of kind {self.kind} needs source (the trained model)")
        if (self.kind == "export") != (self.export is not None):
            raise ValueError("export settings go with kind export, and only with it")
        return self
