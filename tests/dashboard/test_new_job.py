"""The dashboard's New job page in a real browser against a real gateway (with an API key).

Four real training services from the shared factory stand behind it, all the toy framework's
(tests/toy_framework), which trains in a blink: one as `toy`, with two options added to its
schema through TOY_EXTRA_OPTIONS (the page must show them with no change of its own), and one
each as `timm`, `ultralytics` and `huggingface`, run by that framework's own environment with
its real options model (TOY_OPTIONS_MODEL, imported from the framework's plugin module), so the
page is built from each real options schema exactly as its service declares it. Their runs are
the toy's: the form's jobs run to the end without training those frameworks.

With TRAINYARD_UPDATE_SCREENSHOTS=1 the page is also written to docs/images/dashboard-new-job.png.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support.dashboard import (
    API_KEY,
    DOCS_IMAGES,
    get_job,
    screenshot,
    submit,
    update_docs_screenshots,
    wait_ended,
)
from tests.support.datasets import tiny_dataset, zip_of
from tests.support.jobs import toy_spec
from tests.support.processes import framework_python
from trainyard_client import Client
from trainyard_dev.synthetic import make_yolo
from trainyard_wire.spec import Hyperparams, JobSpec

EXTRA_OPTIONS = {
    "warmup_batches": {
        "type": "integer",
        "default": 5,
        "minimum": 0,
        "maximum": 50,
        "description": "batches before the toy counts",
    },
    "curriculum": {
        "type": "string",
        "enum": ["flat", "ramp"],
        "default": "flat",
        "description": "how the toy orders its samples",
    },
}
REAL_OPTIONS = {
    "timm": "trainyard_timm.plugin:TimmOptions",
    "ultralytics": "trainyard_ultralytics.plugin:UltralyticsOptions",
    "huggingface": "trainyard_huggingface.plugin:HuggingfaceOptions",
}
DOCS_SCREENSHOT = DOCS_IMAGES / "dashboard-new-job.png"
# A toy run ends in about a second; on a machine shared with other builds it may wait its turn.
TRAINING_TIMEOUT = 120


@pytest.fixture(scope="module")
def stack(module_processes, tmp_path_factory):
    _, toy_url = module_processes.toy_service(TOY_EXTRA_OPTIONS=json.dumps(EXTRA_OPTIONS))
    urls = {}
    for framework, model in REAL_OPTIONS.items():
        _, urls[framework] = module_processes.service(
            framework,
            python=framework_python(framework),
            module="toy_framework",
            HEARTBEAT_INTERVAL="0.5",
            TOY_FRAMEWORK=framework,
            TOY_OPTIONS_MODEL=model,
        )
    gateway = module_processes.gateway(
        TRAINYARD_EXTRA_SERVICES=f"toy={toy_url}",
        TIMM_SERVICE_URL=urls["timm"],
        ULTRALYTICS_SERVICE_URL=urls["ultralytics"],
        HUGGINGFACE_SERVICE_URL=urls["huggingface"],
        TRAINYARD_API_KEYS=API_KEY,
        TRAINYARD_ALLOW_ANONYMOUS="",
    )
    root = tmp_path_factory.mktemp("new-job")
    dataset = tiny_dataset(root / "shapes")
    with Client(gateway.url, API_KEY) as api:
        yield SimpleNamespace(url=gateway.url, api=api, dataset=dataset, root=root)


def open_form(page: Page, stack: SimpleNamespace, framework: str) -> None:
    page.goto(f"{stack.url}/#/new")
    page.select_option("select[name=framework]", framework)
    expect(page.locator("#options-form")).to_be_attached()


def use_path(page: Page, path: Any) -> None:
    page.check("input[name='dataset-source'][value='uri']")
    page.fill("input[name='dataset.uri']", str(path))


def error_of(page: Page, path: str):
    return page.locator(f"[data-field='{path}'] > .field-error")


def submitted_job(page: Page) -> str:
    expect(page).to_have_url(re.compile(r"#/jobs/job-[0-9a-f]+$"))
    return page.url.rsplit("/", 1)[1]


def frameworks(stack: SimpleNamespace) -> dict[str, dict]:
    answer = httpx.get(f"{stack.url}/v1/frameworks", headers={"Authorization": f"Bearer {API_KEY}"})
    return {service["framework"]: service for service in answer.json()}


def test_the_job_spec_schema_is_served_with_the_key(stack):
    url = f"{stack.url}/v1/schemas/job-spec"
    assert httpx.get(url).status_code == 401
    answer = httpx.get(url, headers={"Authorization": f"Bearer {API_KEY}"})
    assert answer.status_code == 200
    assert answer.json() == JobSpec.model_json_schema()


def test_a_job_made_in_the_form_runs_and_options_added_to_the_schema_appear(stack, page):
    page.goto(f"{stack.url}/")
    page.click("#new-job")  # the jobs table's way in
    expect(page).to_have_url(re.compile(r"#/new$"))
    page.select_option("select[name=framework]", "toy")
    # The two options the toy service was started with, drawn from its schema alone.
    warmup = page.locator("input[name='options.warmup_batches']")
    expect(warmup).to_have_attribute("type", "number")
    expect(warmup).to_have_attribute("min", "0")
    expect(warmup).to_have_attribute("max", "50")
    expect(warmup).to_have_value("5")
    expect(page.locator("[data-field='options.warmup_batches'] .help")).to_contain_text(
        "batches before the toy counts"
    )
    curriculum = page.locator("select[name='options.curriculum']")
    expect(curriculum.locator("option")).to_have_text(["flat", "ramp"])
    expect(page.locator("input[name='options.spawn_child']")).to_have_attribute("type", "checkbox")
    # Hyperparameters and the rest of the spec come from the job spec's schema.
    expect(page.locator("select[name='hyperparams.optimizer'] option")).to_have_text(
        ["sgd", "adam", "adamw"]
    )
    expect(page.locator("select[name='executor'] option")).to_have_text(
        ["(default)", "subprocess", "kubernetes"]
    )
    expect(page.locator("input[name='resources.memory']")).to_have_value("2Gi")

    use_path(page, stack.dataset)
    expect(page.get_by_label("epochs", exact=True)).to_have_value("10")  # labelled inputs
    page.fill("input[name='hyperparams.epochs']", "2")
    page.fill("input[name='options.lines_per_epoch']", "4")
    page.select_option("select[name='options.curriculum']", label="ramp")
    page.fill("input[name='name']", "from-the-form")
    page.fill("input[name='project']", "forms")
    page.check("input[name='early_stopping']")
    page.fill("input[name='early_stopping.metric']", "loss")
    page.click("#submit-job")

    job_id = submitted_job(page)
    assert wait_ended(stack, job_id, TRAINING_TIMEOUT)["state"] == "succeeded"
    expect(page.locator(".job-head .badge")).to_have_attribute("data-state", "succeeded")
    spec = get_job(stack, job_id)["spec"]
    assert spec["options"] == {"lines_per_epoch": 4, "curriculum": "ramp"}
    assert spec["hyperparams"] == Hyperparams(epochs=2).model_dump()
    assert (spec["name"], spec["project"], spec["executor"]) == ("from-the-form", "forms", None)
    assert spec["early_stopping"] == {
        "metric": "loss",
        "mode": "min",
        "patience": 3,
        "min_delta": 0.0,
    }
    assert spec["dataset"] == {"uri": str(stack.dataset), "format": "imagefolder"}
    expect(page.locator(".log.live .line", has_text="epoch 2 step 3")).to_have_count(1)


def test_the_servers_422_is_placed_on_the_field_it_names(stack, page):
    open_form(page, stack, "toy")
    use_path(page, stack.dataset)
    page.fill("input[name='hyperparams.epochs']", "0")
    page.fill("input[name='resources.memory']", "lots")
    page.click("#submit-job")
    expect(error_of(page, "hyperparams.epochs")).to_contain_text("greater than or equal to 1")
    expect(error_of(page, "resources.memory")).to_contain_text("should match pattern")
    expect(page.locator("#form-problems")).to_contain_text("2 problems")
    expect(page).to_have_url(re.compile(r"#/new$"))

    # Fixed; now the service refuses an option, out of the bounds its schema declares.
    page.fill("input[name='hyperparams.epochs']", "1")
    page.fill("input[name='resources.memory']", "1Gi")
    page.fill("input[name='options.warmup_batches']", "99")
    page.click("#submit-job")
    expect(error_of(page, "options.warmup_batches")).to_contain_text("less than or equal to 50")
    expect(error_of(page, "hyperparams.epochs")).to_be_hidden()
    expect(error_of(page, "resources.memory")).to_be_hidden()
    page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar stays on top of the image
    path = screenshot(page, "new-job-422.png")
    assert path.stat().st_size > 10_000
    if update_docs_screenshots():
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_SCREENSHOT), full_page=True)

    # A data set path the service cannot find is placed on the data set.
    page.fill("input[name='options.warmup_batches']", "7")
    use_path(page, stack.root / "nothing-here")
    page.click("#submit-job")
    expect(error_of(page, "dataset.uri")).to_contain_text("nothing-here")
    expect(error_of(page, "options.warmup_batches")).to_be_hidden()

    use_path(page, stack.dataset)
    page.click("#submit-job")
    job_id = submitted_job(page)
    assert get_job(stack, job_id)["spec"]["options"] == {"warmup_batches": 7}
    assert wait_ended(stack, job_id, TRAINING_TIMEOUT)["state"] == "succeeded"


def _inner(prop: dict) -> tuple[dict, bool]:
    branches = [b for b in prop.get("anyOf", []) if b.get("type") != "null"]
    return ({**branches[0], **prop} if branches else prop), bool(prop.get("anyOf"))


def expect_input_for(page: Page, name: str, prop: dict) -> None:
    """The input the page drew for one option matches what its schema says."""
    inner, nullable = _inner(prop)
    field = page.locator(f"[data-field='options.{name}']")
    if prop.get("description"):
        expect(field.locator(".help")).to_contain_text(prop["description"][:40])
    if "enum" in inner:
        expect(field.locator("select option")).to_have_text([str(v) for v in inner["enum"]])
        expect(field.locator("select option:checked")).to_have_text(str(prop["default"]))
    elif inner.get("type") == "boolean":
        box = field.locator("input[type=checkbox]")
        (expect(box).to_be_checked if prop["default"] else expect(box).not_to_be_checked)()
    elif inner.get("type") in ("integer", "number"):
        number = field.locator("input[type=number]")
        assert float(number.input_value()) == prop["default"], name
        low = inner.get("minimum", inner.get("exclusiveMinimum"))
        if low is not None:
            assert float(number.get_attribute("min") or "nan") == low, name
        high = inner.get("maximum", inner.get("exclusiveMaximum"))
        if high is not None:
            assert float(number.get_attribute("max") or "nan") == high, name
        expected_step = "1" if inner["type"] == "integer" else "any"
        expect(number).to_have_attribute("step", expected_step)
    elif inner.get("type") == "string":
        expect(field.locator("input[type=text]")).to_have_value(prop.get("default") or "")
        assert nullable or prop.get("default") is not None
    else:  # a free-form object: JSON text
        expect(field.locator("textarea")).to_be_visible()


# What each test changes from its defaults, and how the spec must then hold it.
CHANGES = {
    "timm": (
        [("select", "scheduler", "none"), ("check", "augment", False)],
        {"scheduler": "none", "augment": False},
    ),
    "ultralytics": (
        [("select", "cache", "ram"), ("check", "cos_lr", True)],
        {"cache": "ram", "cos_lr": True},
    ),
    "huggingface": (
        [("select", "lr_scheduler", "cosine"), ("fill", "config_overrides", '{"hidden_size": 32}')],
        {"lr_scheduler": "cosine", "config_overrides": {"hidden_size": 32}},
    ),
}


@pytest.mark.parametrize("framework", list(REAL_OPTIONS))
def test_each_real_frameworks_options_schema_makes_a_form_that_starts_a_job(stack, page, framework):
    schema = frameworks(stack)[framework]["capabilities"]["options_schema"]
    assert schema["title"] == REAL_OPTIONS[framework].rsplit(":", 1)[1]  # the real model's
    open_form(page, stack, framework)
    expect(page.locator("#options-form [data-field^='options.']")).to_have_count(
        len(schema["properties"])
    )
    for name, prop in schema["properties"].items():
        expect_input_for(page, name, prop)

    changes, expected = CHANGES[framework]
    for how, name, value in changes:
        target = f"[name='options.{name}']"
        if how == "select":
            page.select_option(target, label=value)
        elif how == "check":
            page.set_checked(target, value)
        else:
            page.fill(target, value)
    use_path(page, stack.dataset)
    page.click("#submit-job")
    job_id = submitted_job(page)
    assert get_job(stack, job_id)["spec"]["options"] == expected
    assert wait_ended(stack, job_id, TRAINING_TIMEOUT)["state"] == "succeeded"
    screenshot(page, f"new-job-{framework}.png")


def test_a_broken_upload_lists_its_problems_by_file_and_a_good_one_is_used(stack, page):
    broken = make_yolo(stack.root / "yolo", "detection", train_images=3, val_images=2, size=32)
    (broken / "labels" / "train" / "0001.txt").unlink()
    (broken / "images" / "val" / "0001.png").write_bytes(b"garbage")

    open_form(page, stack, "toy")
    page.check("input[name='dataset-source'][value='upload']")
    files = page.locator("input[name='dataset.file']")
    files.set_input_files(
        {"name": "yolo.zip", "mimeType": "application/zip", "buffer": zip_of(broken)}
    )
    page.click("#upload-dataset")
    report = page.locator("#dataset-report")
    expect(report).to_contain_text("Refused")
    missing = report.locator("li[data-file='images/train/0001.png']")
    expect(missing).to_contain_text("images/train/0001.png")
    expect(missing.locator("li[data-problem='missing_label']")).to_have_count(1)
    corrupt = report.locator("li[data-file='images/val/0001.png'] li[data-problem='corrupt_image']")
    expect(corrupt).to_contain_text("corrupt")
    screenshot(page, "new-job-upload-refused.png")

    files.set_input_files(
        {"name": "shapes.zip", "mimeType": "application/zip", "buffer": zip_of(stack.dataset)}
    )
    page.fill("input[name='dataset.name']", "uploaded-shapes")
    page.click("#upload-dataset")
    expect(page.locator("#upload-accepted")).to_contain_text("uploaded-shapes")
    expect(report).to_have_count(0)
    # Registered now, and picked: the job trains on it.
    expect(page.locator("input[name='dataset-source'][value='registered']")).to_be_checked()
    dataset_id = page.locator("select[name='dataset.id']").input_value()
    assert dataset_id.startswith("ds-")
    page.click("#submit-job")
    job_id = submitted_job(page)
    assert wait_ended(stack, job_id, TRAINING_TIMEOUT)["state"] == "succeeded"
    assert get_job(stack, job_id)["spec"]["dataset"]["uri"] == dataset_id


def test_run_again_starts_from_a_jobs_spec(stack, page):
    spec = toy_spec(
        stack.dataset,
        name="again",
        project="forms",
        priority=5,
        hyperparams={"epochs": 2, "learning_rate": 0.02},
        options={"lines_per_epoch": 1, "curriculum": "ramp"},
        resources={"cpu": 0.5},
    )
    first = submit(stack, spec)
    assert wait_ended(stack, first["id"], TRAINING_TIMEOUT)["state"] == "succeeded"
    page.goto(f"{stack.url}/#/jobs/{first['id']}")
    page.click("#run-again")
    expect(page).to_have_url(re.compile(rf"#/new\?from={first['id']}$"))
    expect(page.locator("#prefilled-from")).to_contain_text("again")
    expect(page.locator("input[name='hyperparams.learning_rate']")).to_have_value("0.02")
    expect(page.locator("input[name='resume_from']")).to_have_value("")
    expect(page.locator("select[name='options.curriculum'] option:checked")).to_have_text("ramp")
    page.click("#submit-job")
    second = submitted_job(page)
    assert second != first["id"]
    assert get_job(stack, second)["spec"] == get_job(stack, first["id"])["spec"]
    assert wait_ended(stack, second, TRAINING_TIMEOUT)["state"] == "succeeded"
