"""Job commands: submit, list, show, logs, cancel, resume, export, predict, wait, follow."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.text import Text

from trainyard_client.cli import output
from trainyard_client.cli.common import (
    CANCELLED,
    OK,
    ApiKeyOption,
    JsonOption,
    UrlOption,
    connect,
    outcome_exit_code,
)
from trainyard_client.cli.follow import follow
from trainyard_client.cli.job_file import (
    build_spec,
    load_job_file,
    local_dataset_uri,
    parse_init_from,
)
from trainyard_client.cli.views import job_detail, jobs_table, predictions_table
from trainyard_client.client import Client
from trainyard_wire.jobs import JobView

app = typer.Typer()

JobId = Annotated[str, typer.Argument(help="Job id (job-…).", show_default=False)]
TimeoutOption = Annotated[
    float | None,
    typer.Option("--timeout", help="Give up after this many seconds (exit 124).", min=0),
]
CheckpointOption = Annotated[str, typer.Option(help="best or last")]
FollowOption = Annotated[
    bool, typer.Option("--follow", help="Follow the job to its end; exit with its outcome.")
]


def _print_state(job: JobView, note: str = "") -> None:
    """One line for a job: its id and its coloured state, then an optional note."""
    output.stdout().print(Text.assemble(f"{job.id} ", output.state_text(job.state), note))


def _show_or_finish(
    client: Client, job: JobView, follow_job: bool, as_json: bool, timeout: float | None
) -> None:
    """A job just made: print it (JSON or one line), or with --follow follow it to its end."""
    if follow_job:
        _finish(client, job, as_json, timeout)
    if as_json:
        output.print_json(job)
    else:
        _print_state(job)


def _finish(client: Client, job: JobView, as_json: bool, timeout: float | None) -> NoReturn:
    """Follow a job to its end and exit with its outcome: 0, 1 (failed/lost), 130."""
    try:
        if as_json:
            ended = client.wait(job.id, timeout, poll_interval=0.5)
            output.print_json(ended)
        else:
            ended = follow(client, job.id, output.stdout(), timeout)
    except KeyboardInterrupt:
        output.stderr().print(
            f"stopped following {job.id}; it keeps running (trainyard cancel {job.id})",
            markup=False,
        )
        raise typer.Exit(CANCELLED) from None
    raise typer.Exit(outcome_exit_code(ended.state))


@app.command()
def submit(
    context: typer.Context,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="Job spec as YAML or JSON; flags override it."),
    ] = None,
    framework: Annotated[str | None, typer.Option(help="timm, ultralytics, huggingface, …")] = None,
    task: Annotated[str | None, typer.Option(help="classification, detection, …")] = None,
    model: Annotated[str | None, typer.Option(help="A model the framework knows.")] = None,
    dataset: Annotated[
        str | None, typer.Option(help="A dataset id (ds-…), a path, file://… or s3://…")
    ] = None,
    dataset_format: Annotated[
        str | None,
        typer.Option("--format", help="imagefolder, yolo, coco (found for a ds-… id)"),
    ] = None,
    epochs: Annotated[int | None, typer.Option()] = None,
    batch_size: Annotated[int | None, typer.Option()] = None,
    image_size: Annotated[int | None, typer.Option()] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Learning rate.")] = None,
    project: Annotated[str | None, typer.Option()] = None,
    name: Annotated[str | None, typer.Option()] = None,
    priority: Annotated[int | None, typer.Option(help="-100…100, higher first.")] = None,
    nodes: Annotated[
        int | None, typer.Option(help="Machines (pods) one distributed job runs on.")
    ] = None,
    processes_per_node: Annotated[
        int | None,
        typer.Option(help="Training processes per node (default: one per GPU, else 1)."),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="Framework option key=value (repeatable)."),
    ] = None,
    init_from: Annotated[
        str | None,
        typer.Option(
            help="Fine-tune from: job-… (its best checkpoint), job-…:last, NAME@VERSION "
            "(a registered model) or a checkpoint's storage key or URI.",
        ),
    ] = None,
    register_as: Annotated[
        str | None,
        typer.Option(help="On success, register the best checkpoint as a version of NAME."),
    ] = None,
    follow_job: FollowOption = False,
    timeout: TimeoutOption = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Submit a job from flags, a job file, or both."""
    flags = {
        "framework": framework,
        "task": task,
        "model": model,
        "dataset.uri": local_dataset_uri(dataset, Path.cwd()) if dataset else None,
        "dataset.format": dataset_format,
        "hyperparams.epochs": epochs,
        "hyperparams.batch_size": batch_size,
        "hyperparams.image_size": image_size,
        "hyperparams.learning_rate": lr,
        "project": project,
        "name": name,
        "priority": priority,
        "register_as": register_as,
        "distributed.nodes": nodes,
        "distributed.processes_per_node": processes_per_node,
    }
    spec = build_spec(load_job_file(file) if file else {}, flags, option or [])
    if init_from:
        spec["init_from"] = parse_init_from(init_from)
    with connect(context, url, api_key) as client:
        _fill_dataset_format(client, spec)
        job = client.create_job(spec)
        if follow_job and not as_json:
            output.stdout().print(f"submitted {job.id}", markup=False)
        _show_or_finish(client, job, follow_job, as_json, timeout)


def _fill_dataset_format(client: Client, spec: dict[str, Any]) -> None:
    """A registered dataset knows its format: ask for it when the spec leaves it out."""
    dataset = spec.get("dataset")
    if isinstance(dataset, dict) and "format" not in dataset:
        uri = dataset.get("uri")
        if isinstance(uri, str) and uri.startswith("ds-"):
            dataset["format"] = client.get_dataset(uri).format


@app.command("list")
def list_jobs(
    context: typer.Context,
    state: Annotated[str | None, typer.Option(help="queued, running, succeeded, …")] = None,
    framework: Annotated[str | None, typer.Option()] = None,
    project: Annotated[str | None, typer.Option()] = None,
    kind: Annotated[str | None, typer.Option(help="train, export or evaluate.")] = None,
    limit: Annotated[int, typer.Option(help="Jobs per page.", min=1, max=200)] = 20,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of a previous page.")] = None,
    all_pages: Annotated[bool, typer.Option("--all", help="Every page, not just one.")] = False,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """List jobs, newest first."""
    filters = {"state": state, "framework": framework, "project": project, "kind": kind}
    with connect(context, url, api_key) as client:
        if all_pages:
            jobs, next_cursor = list(client.iter_jobs(page_size=200, **filters)), None
        else:
            page = client.list_jobs(limit=limit, cursor=cursor, **filters)
            jobs, next_cursor = page.items, page.next_cursor
    if as_json:
        output.print_json({"items": jobs, "next_cursor": next_cursor})
        return
    output.stdout().print(jobs_table(jobs))
    if next_cursor:
        output.stderr().print(f"more: --cursor {next_cursor} (or --all)", markup=False)


@app.command()
def show(
    context: typer.Context,
    job_id: JobId,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """A job's state, progress, metrics, error and artifacts."""
    with connect(context, url, api_key) as client:
        job = client.get_job(job_id)
    output.print_result(job, as_json, job_detail)


@app.command()
def logs(
    context: typer.Context,
    job_id: JobId,
    follow_logs: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until the job ends.")
    ] = False,
    tail: Annotated[int, typer.Option("--tail", "-n", help="Last lines to show.", min=0)] = 100,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """A job's output lines; with -f, live until it ends (one JSON object a line with --json)."""
    with connect(context, url, api_key) as client:
        if not follow_logs:
            answer = client.logs(job_id, tail=max(tail, 1))
            if as_json:
                output.print_json(answer)
            else:
                sys.stdout.writelines(line.line + "\n" for line in answer.lines)
            return
        try:
            for line in client.follow_logs(job_id, tail=tail):
                text = json.dumps(line.model_dump(mode="json")) if as_json else line.line
                sys.stdout.write(text + "\n")
                sys.stdout.flush()
        except KeyboardInterrupt:
            raise typer.Exit(CANCELLED) from None


@app.command()
def cancel(
    context: typer.Context,
    job_id: JobId,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Stop a job (its whole process group, or its Kubernetes Job)."""
    with connect(context, url, api_key) as client:
        job = client.cancel_job(job_id)
    if as_json:
        output.print_json(job)
        return
    _print_state(job, "" if job.state == "cancelled" else "  (stop requested)")


@app.command()
def resume(
    context: typer.Context,
    job_id: JobId,
    follow_job: FollowOption = False,
    timeout: TimeoutOption = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Continue a job from its last checkpoint; prints the job that now trains."""
    with connect(context, url, api_key) as client:
        job = client.resume_job(job_id)
        _show_or_finish(client, job, follow_job, as_json, timeout)


@app.command()
def export(
    context: typer.Context,
    job_id: JobId,
    format: Annotated[str, typer.Option("--format", "-f", help="onnx or torchscript")] = "onnx",
    checkpoint: CheckpointOption = "best",
    follow_job: FollowOption = False,
    timeout: TimeoutOption = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Export a succeeded training job's model; the export job checks the file against the
    trained model (its parity report is on the job; `show` prints it)."""
    with connect(context, url, api_key) as client:
        job = client.export_job(job_id, format, checkpoint)
        _show_or_finish(client, job, follow_job, as_json, timeout)


@app.command()
def evaluate(
    context: typer.Context,
    job_id: JobId,
    checkpoint: CheckpointOption = "best",
    dataset: Annotated[
        str | None, typer.Option(help="Another dataset (path, s3://… or ds-…) of its format.")
    ] = None,
    follow_job: FollowOption = False,
    timeout: TimeoutOption = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Evaluate a succeeded training job's model (its validation data by default); the
    metrics, per-class figures and confusion matrix land in the evaluation job's result."""
    with connect(context, url, api_key) as client:
        ref = None
        if dataset is not None:
            ref = {"uri": dataset, "format": client.get_job(job_id).spec["dataset"]["format"]}
        job = client.evaluate_job(job_id, checkpoint, ref)
        _show_or_finish(client, job, follow_job, as_json, timeout)


def split_images(arguments: list[str]) -> tuple[list[Path], list[str]]:
    """Local files, and URIs (anything with a scheme) the gateway reads from its storage."""
    files: list[Path] = []
    urls: list[str] = []
    for argument in arguments:
        if "://" in argument:
            urls.append(argument)
        elif Path(argument).is_file():
            files.append(Path(argument))
        else:
            raise typer.BadParameter(
                f"{argument} is not a file: give image files or URIs of objects in the "
                "platform's storage (s3://…)",
                param_hint="IMAGES",
            )
    return files, urls


@app.command()
def predict(
    context: typer.Context,
    job_id: JobId,
    images: Annotated[
        list[str],
        typer.Argument(
            help="Image files, or URIs of image objects in the platform's storage (s3://…).",
            show_default=False,
        ),
    ],
    checkpoint: CheckpointOption = "best",
    top_k: Annotated[int, typer.Option("--top-k", help="Classes per image.")] = 5,
    conf: Annotated[float, typer.Option(help="Smallest detection score shown.")] = 0.25,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Ask a succeeded training job's model about images (files, or objects in the platform's
    storage by URI): top classes, or boxes with class and score (masks and keypoints in
    --json)."""
    files, urls = split_images(images)
    with connect(context, url, api_key) as client:
        prediction = client.predict(
            job_id, files, urls=urls, checkpoint=checkpoint, top_k=top_k, conf=conf
        )
    output.print_result(prediction, as_json, predictions_table)


@app.command("follow")
def follow_command(
    context: typer.Context,
    job_id: JobId,
    timeout: TimeoutOption = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Show a job's progress live until it ends; exit with its outcome."""
    with connect(context, url, api_key) as client:
        _finish(client, client.get_job(job_id), as_json, timeout)


@app.command()
def wait(
    context: typer.Context,
    job_id: JobId,
    timeout: TimeoutOption = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Wait quietly until a job ends; print its final state and exit with its outcome."""
    with connect(context, url, api_key) as client:
        job = client.wait(job_id, timeout, poll_interval=1.0)
    if as_json:
        output.print_json(job)
    else:
        _print_state(job)
    code = outcome_exit_code(job.state)
    if code != OK:
        raise typer.Exit(code)
