"""A succeeded training job's page in a real browser: predict on a dropped image (top classes;
boxes, masks and keypoints drawn over it), start an evaluation or an export, and read what each
found (metrics, per-class table, confusion matrix; the parity report and the exported file).

The toy service runs with TOY_COLOUR_MODEL=1: its model tells the synthetic shapes apart by
colour (circle red, square green, triangle blue; toy_framework/predict.py), a real computation
on the pixels, so each image's answer is known without training a network; its export writes
that rule as a torch module (ONNX or TorchScript) and checks the file in its own runtime.
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.support.dashboard import API_KEY, get_job, screenshot, submit, wait_ended
from tests.support.datasets import tiny_dataset
from tests.support.jobs import toy_spec
from tests.support.processes import framework_python
from trainyard_client import Client


@pytest.fixture(scope="module")
def stack(module_processes, tmp_path_factory):
    # The timm environment's interpreter: the toy's export needs torch and onnxruntime.
    _, service_url = module_processes.service(
        "toy",
        python=framework_python("timm"),
        module="toy_framework",
        HEARTBEAT_INTERVAL="0.5",
        TOY_COLOUR_MODEL="1",
    )
    gateway = module_processes.gateway(
        TRAINYARD_EXTRA_SERVICES=f"toy={service_url}",
        TRAINYARD_API_KEYS=API_KEY,
        TRAINYARD_ALLOW_ANONYMOUS="",
    )
    dataset = tiny_dataset(tmp_path_factory.mktemp("after-training") / "shapes")
    with Client(gateway.url, API_KEY) as api:
        trained = submit(
            SimpleNamespace(api=api), toy_spec(dataset, name="colours", hyperparams={"epochs": 1})
        )
        stack = SimpleNamespace(url=gateway.url, api=api, dataset=dataset)
        assert wait_ended(stack, trained["id"])["state"] == "succeeded"
        stack.trained = trained["id"]
        yield stack


def png(colour: tuple[int, int, int], size: int = 24) -> bytes:
    """A square of one colour on a dark background, as the synthetic shapes are drawn."""
    image = Image.new("RGB", (size, size), (20, 20, 20))
    image.paste(colour, (4, 4, size - 4, size - 4))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def drop_file(page: Page, selector: str, name: str, data: bytes) -> None:
    """Drop a file on an element as a user dragging it from the desktop would."""
    transfer = page.evaluate_handle(
        """([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "image/png" }));
            return transfer;
        }""",
        [name, base64.b64encode(data).decode()],
    )
    page.locator(selector).dispatch_event("drop", {"dataTransfer": transfer})


def test_dropped_image_gets_the_models_top_classes(stack, page):
    page.goto(f"{stack.url}/#/jobs/{stack.trained}")
    expect(page.locator("#evaluate-job")).to_be_visible()

    drop_file(page, "#predict-drop", "green.png", png((60, 200, 80)))
    classes = page.locator("#prediction .top-classes li")
    expect(classes).to_have_count(3)
    expect(classes.first).to_have_attribute("data-label", "square")
    expect(classes.first).to_contain_text("square")
    expect(page.locator("#prediction")).to_contain_text(re.compile(r"green\.png · 24.24"))

    # Chosen instead of dropped: a red one is a circle, the model now loaded in the service.
    page.set_input_files(
        "#predict-file", {"name": "red.png", "mimeType": "image/png", "buffer": png((230, 60, 60))}
    )
    expect(classes.first).to_have_attribute("data-label", "circle")
    expect(page.locator("#prediction")).to_contain_text("model was loaded")
    # The bars are probabilities, most probable first.
    read = "items => items.map(i => i.dataset.probability)"
    shown = [float(p) for p in classes.evaluate_all(read)]
    assert shown == sorted(shown, reverse=True) and abs(sum(shown) - 1) < 1e-6
    screenshot(page, "predict.png")


def test_a_file_that_is_no_image_shows_the_gateways_refusal(stack, page):
    page.goto(f"{stack.url}/#/jobs/{stack.trained}")
    page.set_input_files(
        "#predict-file", {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}
    )
    expect(page.locator("#prediction .alert")).to_contain_text("notes.txt is not an image")


def test_evaluate_opens_the_evaluation_with_its_confusion_matrix(stack, page):
    page.goto(f"{stack.url}/#/jobs/{stack.trained}")
    page.locator("#evaluate-job").click()
    expect(page).not_to_have_url(re.compile(f"#/jobs/{stack.trained}$"))
    evaluation_id = page.url.rsplit("/", 1)[-1]
    assert wait_ended(stack, evaluation_id)["state"] == "succeeded"
    evaluation = get_job(stack, evaluation_id)
    assert evaluation["kind"] == "evaluate" and evaluation["source_job_id"] == stack.trained
    result = evaluation["result"]

    expect(page.locator("#source-job")).to_have_text(stack.trained)
    expect(page.locator("#run-again")).to_have_count(0)  # it is made from its model, not a spec
    cells = page.locator("#confusion-matrix td.cell")
    expect(cells).to_have_count(9)
    shown = cells.evaluate_all("cells => cells.map(c => Number(c.dataset.count))")
    assert [shown[i : i + 3] for i in (0, 3, 6)] == result["confusion_matrix"]
    assert result["labels"] == ["circle", "square", "triangle"]
    rows = page.locator("#evaluation-result table.per-class tbody tr")
    expect(rows).to_have_count(3)
    for row, per_class in zip(rows.all(), result["per_class"], strict=True):
        expect(row.locator("td").first).to_have_text(per_class["label"])
        expect(row.locator("td[data-column='support']")).to_have_text(str(per_class["support"]))
    # One validation image per class, each told apart by its colour.
    assert result["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    top1 = page.locator("#evaluation-result [data-metric='top1'] dd")
    assert float(top1.inner_text()) == result["metrics"]["top1"] == 1.0
    screenshot(page, "evaluation.png")

    # The trained job lists it among the jobs made from its model.
    page.locator("#source-job").click()
    derived = page.locator(f"#derived-jobs tr[data-job-id='{evaluation_id}']")
    expect(derived).to_contain_text("evaluate")
    expect(derived.locator(".badge")).to_have_attribute("data-state", "succeeded")


def two_squares() -> bytes:
    """A red square at (2, 3)-(12, 11) and a blue one at (16, 14)-(30, 28), on dark grey."""
    image = Image.new("RGB", (32, 32), (20, 20, 20))
    image.paste((230, 60, 60), (2, 3, 12, 11))
    image.paste((70, 110, 240), (16, 14, 30, 28))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_boxes_masks_and_keypoints_are_drawn_over_the_dropped_image(stack, page):
    jobs = {
        task: submit(stack, toy_spec(stack.dataset, task=task, hyperparams={"epochs": 1}))["id"]
        for task in ("detection", "segmentation", "pose")
    }
    for job_id in jobs.values():
        assert wait_ended(stack, job_id)["state"] == "succeeded"
    for task, job_id in jobs.items():
        page.goto(f"{stack.url}/#/jobs/{job_id}")
        drop_file(page, "#predict-drop", "squares.png", two_squares())
        overlay = page.locator("#prediction svg.prediction-overlay")
        expect(overlay).to_have_attribute("viewBox", "0 0 32 32")
        found = overlay.locator("g.detection")
        expect(found).to_have_count(2)
        circle, triangle = found.nth(0), found.nth(1)
        expect(circle).to_have_attribute("data-label", "circle")
        expect(triangle).to_have_attribute("data-label", "triangle")
        box = triangle.locator("rect.box")
        for name, value in (("x", "16"), ("y", "14"), ("width", "14"), ("height", "14")):
            expect(box).to_have_attribute(name, value)
        expect(circle.locator("text.detection-label")).to_have_text("circle 100.0%")
        expect(overlay.locator("polygon.mask")).to_have_count(2 if task == "segmentation" else 0)
        expect(overlay.locator("circle.keypoint")).to_have_count(8 if task == "pose" else 0)
        if task == "segmentation":
            points = circle.locator("polygon.mask").get_attribute("points")
            assert points == "2,3 12,3 12,11 2,11"
    screenshot(page, "predict-pose.png")


def test_export_opens_the_export_with_its_parity_report_and_file(stack, page):
    page.goto(f"{stack.url}/#/jobs/{stack.trained}")
    # The formats the framework declares for the task (GET /v1/frameworks).
    formats = page.locator("#export-format option")
    expect(formats).to_have_text(["onnx", "torchscript"])
    page.select_option("#export-format", "torchscript")
    page.locator("#export-job").click()
    expect(page).not_to_have_url(re.compile(f"#/jobs/{stack.trained}$"))
    export_id = page.url.rsplit("/", 1)[-1]
    assert wait_ended(stack, export_id, timeout=120)["state"] == "succeeded"
    export = get_job(stack, export_id)
    assert export["kind"] == "export" and export["source_job_id"] == stack.trained
    parity = export["result"]["parity"]

    report = page.locator("#export-result")
    expect(report.locator("h2")).to_have_text("Export: torchscript")
    expect(report.locator("#parity [data-field='passed'] dd")).to_have_text("yes")
    expect(report.locator("#parity [data-field='images'] dd")).to_have_text(str(parity["images"]))
    shown = float(report.locator("#parity [data-field='max_abs_diff'] dd").inner_text())
    assert shown == pytest.approx(parity["max_abs_diff"], rel=1e-3, abs=1e-12)
    # The validation metrics of the model and of its export, side by side.
    measured = export["result"]["task_metrics"]
    assert measured["pytorch"] == measured["exported"] == {"accuracy": 1.0}
    row = report.locator("#task-metrics tr[data-metric='accuracy'] td")
    expect(row).to_have_text(["accuracy", "1", "1", "0"])
    link = report.locator("#export-file a.artifact-link")
    expect(link).to_have_text("model.torchscript")
    expect(link).to_have_attribute("href", f"/v1/jobs/{export_id}/artifacts/model.torchscript")
    with page.expect_download() as download:
        link.click()
    stored = next(a for a in export["artifacts"] if a["name"] == "model.torchscript")
    assert Path(download.value.path()).stat().st_size == stored["size"]
    screenshot(page, "export.png")
