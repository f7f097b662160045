"""Rich renderings of the gateway's answers: tables for lists, a grid for one job."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from trainyard_client.cli.output import (
    format_bytes,
    format_metrics,
    format_seconds,
    format_time,
    state_text,
)
from trainyard_wire.datasets import DatasetView
from trainyard_wire.jobs import Artifact, JobView
from trainyard_wire.predictions import Prediction
from trainyard_wire.registry import RegisteredModel
from trainyard_wire.spec import JobSpec, processes_per_node, world_size
from trainyard_wire.webhooks import Delivery, Webhook, WebhookCreated
from trainyard_wire.weights import WeightsView

MODELS_SHOWN = 6


def progress_text(job: JobView) -> str:
    progress = job.progress
    if progress.total_epochs is None:
        return "-"
    return f"{progress.epoch or 0}/{progress.total_epochs} ({progress.percent:.0f}%)"


def distributed_text(spec: dict[str, Any]) -> str | None:
    """`2 nodes x 2 processes per node (4 processes)` for a job of several processes."""
    try:
        parsed = JobSpec.model_validate(spec)
    except ValidationError:  # a spec of a newer gateway: shown as its JSON elsewhere
        return None
    world = world_size(parsed)
    if world == 1:
        return None
    nodes = parsed.distributed.nodes
    return (
        f"{nodes} node{'s' if nodes > 1 else ''} x {processes_per_node(parsed)} processes "
        f"per node ({world} processes)"
    )


def headed_table(*columns: str, no_wrap: bool = False) -> Table:
    """A borderless table with bold column headings, the shape of every listing here."""
    table = Table(box=None, header_style="bold")
    for column in columns:
        table.add_column(column, no_wrap=no_wrap)
    return table


def jobs_table(jobs: list[JobView]) -> Table:
    table = headed_table(
        "ID", "STATE", "FRAMEWORK", "TASK", "MODEL", "PROJECT", "EPOCHS", "CREATED", no_wrap=True
    )
    for job in jobs:
        table.add_row(
            job.id,
            state_text(job.state),
            job.framework,
            job.task,
            job.model,
            job.project,
            progress_text(job),
            format_time(job.created_at),
        )
    return table


def _grid() -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    return grid


def job_detail(job: JobView) -> RenderableType:
    grid = _grid()
    spec: dict[str, Any] = job.spec
    dataset = spec.get("dataset", {})
    grid.add_row("id", job.id)
    grid.add_row("state", state_text(job.state))
    grid.add_row("job", f"{job.framework} {job.task} {job.model}")
    grid.add_row("project", job.project + (f"  name: {job.name}" if job.name else ""))
    grid.add_row("dataset", f"{dataset.get('uri')} ({dataset.get('format')})")
    grid.add_row("hyperparams", format_metrics(spec.get("hyperparams")))
    shape = distributed_text(spec)
    if shape:
        grid.add_row("distributed", shape)
    if spec.get("options"):
        grid.add_row("options", format_metrics(spec["options"]))
    progress = job.progress
    eta = f"  eta {format_seconds(progress.eta_seconds)}" if progress.eta_seconds else ""
    grid.add_row("progress", progress_text(job) + eta)
    if job.queue:
        reason = job.queue.reason
        grid.add_row("queue", f"position {job.queue.position}" + (f": {reason}" if reason else ""))
    if job.attempt > 1:
        grid.add_row("attempt", str(job.attempt))
    if job.resumed_from:
        grid.add_row("resumed from", job.resumed_from)
    if job.init_from:
        source = job.init_from
        named = (
            f"model {source['model']} v{source['version']}"
            if "model" in source
            else f"{source.get('job', '')} {source.get('checkpoint', '')}".strip()
        )
        grid.add_row("fine-tuned from", f"{named}  {source.get('uri', '')}".strip())
    if job.registered:
        grid.add_row("registered", f"{job.registered.name} v{job.registered.version}")
    if job.kind != "train":
        grid.add_row("kind", f"{job.kind} of {job.source_job_id}")
    parity = (job.result or {}).get("parity")
    if parity:
        top1 = parity.get("top1_agreement")
        grid.add_row(
            "parity",
            f"{'passed' if parity.get('passed') else 'FAILED'}: max abs diff "
            f"{parity.get('max_abs_diff')}, mean abs diff {parity.get('mean_abs_diff')}"
            + ("" if top1 is None else f", top-1 agreement {top1}")
            + f" on {parity.get('images')} images",
        )
    if job.metrics:
        grid.add_row("metrics", format_metrics(job.metrics))
    if job.mlflow:
        grid.add_row("mlflow", format_metrics(job.mlflow))
    if job.weights:
        used = job.weights
        grid.add_row(
            "weights",
            f"{used.model} from the {used.tier} tier, {format_bytes(used.size)}, "
            f"sha256 {used.sha256[:12]}",
        )
    grid.add_row("created", format_time(job.created_at))
    grid.add_row("started", format_time(job.started_at))
    grid.add_row("finished", format_time(job.finished_at))
    parts: list[RenderableType] = [grid]
    if job.error:
        parts.append(error_detail(job.error))
    if job.artifacts:
        parts.append(Text("\nartifacts", style="bold"))
        parts.append(artifacts_table(job.artifacts))
    return Group(*parts)


def error_detail(error: dict[str, Any]) -> RenderableType:
    grid = _grid()
    grid.add_row(Text("error", style="bold red"), str(error.get("reason") or "-"))
    for key in ("message", "error_type", "exit_code", "signal"):
        if error.get(key) is not None:
            grid.add_row(key, str(error[key]))
    tail = error.get("log_tail") or []
    if not tail:
        return grid
    return Group(grid, Text("last output lines:", style="bold"), Text("\n".join(tail)))


def predictions_table(prediction: Prediction) -> Table:
    """One row per class (classification) or per detection, under its image's name."""
    table = headed_table("IMAGE", "CLASS", "SCORE", "BOX", "EXTRA", no_wrap=True)
    for image in prediction.predictions:
        for scored in image.classes or []:
            table.add_row(image.image, scored.label, f"{scored.probability:.4f}", "", "")
        for found in image.detections or []:
            extra = ""
            if found.keypoints is not None:
                extra = f"{len(found.keypoints)} keypoints"
            elif found.polygons is not None:
                extra = f"mask, {sum(len(p) for p in found.polygons)} points"
            box = ", ".join(f"{v:.1f}" for v in found.box)
            table.add_row(image.image, found.label, f"{found.score:.4f}", f"[{box}]", extra)
        if not image.classes and not image.detections:
            table.add_row(image.image, "-", "", "", "nothing found")
    return table


def artifacts_table(artifacts: list[Artifact]) -> Table:
    table = headed_table("NAME", "KIND", "SIZE", "SHA256", "CREATED", no_wrap=True)
    for artifact in artifacts:
        table.add_row(
            artifact.name,
            artifact.kind,
            format_bytes(artifact.size),
            artifact.sha256[:16],
            format_time(artifact.created_at),
        )
    return table


def datasets_table(datasets: list[DatasetView]) -> Table:
    table = headed_table(
        "ID", "NAME", "FORMAT", "SOURCE", "SIZE", "SUMMARY", "CREATED", no_wrap=True
    )
    for dataset in datasets:
        table.add_row(
            dataset.id,
            dataset.name or "-",
            dataset.format,
            dataset.source,
            format_bytes(dataset.size_bytes),
            dataset_summary(dataset),
            format_time(dataset.created_at),
        )
    return table


def dataset_summary(dataset: DatasetView) -> str:
    summary = dataset.summary
    images = summary.get("images")
    parts = []
    if isinstance(images, dict):
        parts.append(" ".join(f"{split}={count}" for split, count in images.items()))
    if isinstance(summary.get("classes"), list):
        parts.append(f"{len(summary['classes'])} classes")
    return ", ".join(parts) or "-"


def dataset_detail(dataset: DatasetView) -> Table:
    grid = _grid()
    grid.add_row("id", dataset.id)
    grid.add_row("name", dataset.name or "-")
    grid.add_row("format", dataset.format)
    grid.add_row("uri", dataset.uri)
    grid.add_row("source", dataset.source)
    grid.add_row("size", format_bytes(dataset.size_bytes))
    grid.add_row("summary", dataset_summary(dataset))
    grid.add_row("created", format_time(dataset.created_at))
    return grid


def frameworks_table(frameworks: list[dict[str, Any]]) -> Table:
    table = headed_table("FRAMEWORK", "HEALTHY", "DEVICE", "TASKS (FORMATS)", "MODELS", "URL")
    for service in frameworks:
        capabilities = service.get("capabilities") or {}
        tasks = capabilities.get("tasks") or {}
        models: list[str] = sorted({m for task in tasks.values() for m in task.get("models", [])})
        shown = ", ".join(models[:MODELS_SHOWN]) + (" …" if len(models) > MODELS_SHOWN else "")
        healthy = Text("yes", style="green") if service["healthy"] else Text("no", style="red")
        if not service["healthy"] and service.get("error"):
            healthy.append(f" ({service['error']})")
        table.add_row(
            service["framework"],
            healthy,
            capabilities.get("device") or "-",
            ", ".join(f"{name} ({'/'.join(t['dataset_formats'])})" for name, t in tasks.items())
            or "-",
            shown or "-",
            service["url"],
        )
    return table


def webhooks_table(webhooks: list[Webhook]) -> Table:
    table = headed_table("ID", "URL", "PROJECT", "EVENTS", "CREATED", no_wrap=True)
    for webhook in webhooks:
        table.add_row(
            webhook.id,
            webhook.url,
            webhook.project or "(every project)",
            ", ".join(webhook.events),
            format_time(webhook.created_at),
        )
    return table


def webhook_detail(webhook: Webhook) -> Table:
    grid = _grid()
    grid.add_row("id", webhook.id)
    grid.add_row("url", webhook.url)
    grid.add_row("project", webhook.project or "(every project)")
    grid.add_row("events", ", ".join(webhook.events))
    grid.add_row("created", format_time(webhook.created_at))
    if isinstance(webhook, WebhookCreated):
        grid.add_row("secret", webhook.secret)
    return grid


def deliveries_table(deliveries: list[Delivery]) -> Table:
    table = headed_table(
        "DELIVERY", "EVENT", "JOB", "STATUS", "TRIES", "LAST ERROR", "NEXT TRY", no_wrap=True
    )
    for delivery in deliveries:
        table.add_row(
            delivery.delivery_id,
            delivery.event,
            delivery.job_id,
            delivery.status,
            str(delivery.attempts),
            delivery.last_error or "-",
            format_time(delivery.next_attempt_at) if delivery.next_attempt_at else "-",
        )
    return table


def models_table(models: list[RegisteredModel]) -> Table:
    table = headed_table(
        "MODEL", "VERSION", "JOB", "FRAMEWORK", "ARCHITECTURE", "METRICS", "CREATED"
    )
    for model in models:
        for version in model.versions:
            table.add_row(
                model.name,
                str(version.version),
                version.job_id or "-",
                version.framework or "-",
                version.model or "-",
                format_metrics(version.metrics),
                format_time(version.created_at),
            )
    return table


def weights_table(weights: list[WeightsView]) -> Table:
    table = headed_table("ID", "FRAMEWORK", "MODEL", "SIZE", "SHA256", "CREATED", no_wrap=True)
    for each in weights:
        table.add_row(
            each.id,
            each.framework,
            each.model,
            format_bytes(each.size),
            each.sha256[:12],
            format_time(each.created_at),
        )
    return table
