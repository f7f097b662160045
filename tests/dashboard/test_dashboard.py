"""The web dashboard in a real browser (Debian's chromium through Playwright) against a real
gateway that requires an API key, as in production, and a real toy training service.

Screenshots go to test-artifacts/dashboard/. With TRAINYARD_UPDATE_SCREENSHOTS=1 the job page's
and the compare page's are also written to docs/images/ (dashboard-job.png,
dashboard-compare.png), the ones the README shows.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

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
from tests.support.datasets import tiny_dataset
from tests.support.jobs import toy_spec
from trainyard_client import Client
from trainyard_wire.states import TERMINAL

DOCS_SCREENSHOT = DOCS_IMAGES / "dashboard-job.png"
DOCS_COMPARE_SCREENSHOT = DOCS_IMAGES / "dashboard-compare.png"


@pytest.fixture(scope="module")
def stack(module_processes, tmp_path_factory):
    # Every epoch uploads a `last` checkpoint, so a cancelled job can be resumed.
    _, service_url = module_processes.toy_service(CHECKPOINT_INTERVAL_SECONDS="0")
    gateway = module_processes.gateway(
        TRAINYARD_EXTRA_SERVICES=f"toy={service_url}",
        TRAINYARD_API_KEYS=API_KEY,
        TRAINYARD_ALLOW_ANONYMOUS="",
    )
    dataset = tiny_dataset(tmp_path_factory.mktemp("dashboard") / "shapes")
    with Client(gateway.url, API_KEY) as api:
        yield SimpleNamespace(url=gateway.url, api=api, dataset=dataset)


def chart_points(page: Page, metric: str) -> int:
    chart = page.locator(f"figure.chart[data-metric='{metric}']")
    return int(chart.get_attribute("data-points") or 0) if chart.count() else 0


def test_jobs_table_and_job_page_follow_a_training_job_live(stack, page, tmp_path):
    hold = tmp_path / "let-go"
    spec = toy_spec(
        stack.dataset,
        name="counter-shapes",
        project="shapes",
        hyperparams={"epochs": 6},
        options={"epoch_seconds": 0.3, "lines_per_epoch": 3, "hold_file": str(hold)},
    )
    job = submit(stack, spec)
    page.goto(f"{stack.url}/")
    row = page.locator(f"tr[data-job-id='{job['id']}']")
    expect(row).to_contain_text("counter-shapes")
    for text in ("toy", "counter", "shapes"):
        expect(row).to_contain_text(text)
    expect(row.locator(".badge")).to_have_attribute(
        "data-state", re.compile("queued|starting|running")
    )

    # Filters narrow the table and say so in the address.
    page.select_option("select[name=state]", "failed")
    expect(row).to_have_count(0)
    expect(page).to_have_url(re.compile(r"#/jobs\?state=failed$"))
    page.select_option("select[name=state]", "")
    page.select_option("select[name=kind]", "export")
    expect(row).to_have_count(0)
    expect(page).to_have_url(re.compile(r"#/jobs\?kind=export$"))
    page.select_option("select[name=kind]", "train")
    expect(row).to_have_count(1)
    page.select_option("select[name=kind]", "")
    page.fill("input[name=project]", "shapes")
    expect(row).to_have_count(1)
    screenshot(page, "jobs-table.png")

    row.locator("a").click()
    expect(page).to_have_url(re.compile(f"#/jobs/{job['id']}$"))
    logs = page.locator(".log.live .line")
    expect(logs.filter(has_text="epoch 1 step 0")).to_have_count(1)
    # Lines keep arriving on the open page: the run waits after its first epoch until let go.
    assert get_job(stack, job["id"])["state"] not in TERMINAL
    expect(logs.filter(has_text="epoch 3 step 0")).to_have_count(0)
    hold.write_text("go")
    expect(logs.filter(has_text="epoch 6 step 2")).to_have_count(1, timeout=30_000)

    page.wait_for_function(
        "() => Number(document.querySelector(\"figure.chart[data-metric='loss']\")"
        "?.dataset.points) >= 2"
    )
    expect(page.locator(".job-head .badge")).to_have_attribute("data-state", "succeeded")
    page.wait_for_function(  # the last poll after the end draws every epoch
        "() => document.querySelector(\"figure.chart[data-metric='loss']\")?.dataset.points === '6'"
    )
    assert chart_points(page, "accuracy") == 6
    steps = page.locator(".log.live .line", has_text=re.compile(r"epoch \d step \d"))
    expect(steps).to_have_count(18)
    artifact = page.locator("a.artifact-link", has_text="best.bin")
    expect(artifact).to_have_attribute("href", f"/v1/jobs/{job['id']}/artifacts/best.bin")
    expect(page.locator(".progress-label").first).to_have_text("6/6")

    path = screenshot(page, "job-page.png")
    if update_docs_screenshots():
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.locator(".log.live").evaluate("box => box.scrollTop = 0")
        page.screenshot(path=str(DOCS_SCREENSHOT), full_page=True)
    assert path.stat().st_size > 10_000


def test_compare_two_finished_jobs_overlays_their_curves_and_shows_what_differs(stack, page):
    runs = [
        submit(
            stack,
            toy_spec(
                stack.dataset,
                name=name,
                project="compare",
                hyperparams={"epochs": epochs, "learning_rate": lr},
            ),
        )
        for name, epochs, lr in (("lr-high", 4, 0.01), ("lr-low", 6, 0.001))
    ]
    for run in runs:
        assert wait_ended(stack, run["id"])["state"] == "succeeded"
    ids = [run["id"] for run in runs]

    page.goto(f"{stack.url}/#/jobs?project=compare")
    compare = page.locator("#compare-jobs")
    expect(compare).to_be_disabled()
    for job_id in ids:
        page.locator(f"tr[data-job-id='{job_id}'] input.pick").check()
    expect(compare).to_be_enabled()
    expect(compare).to_have_text("Compare 2")
    compare.click()
    expect(page).to_have_url(re.compile(rf"#/compare\?jobs={ids[0]},{ids[1]}$"))

    def shows_the_comparison() -> None:
        for metric in ("loss", "accuracy"):
            chart = page.locator(f"figure.chart[data-metric='{metric}']")
            expect(chart).to_have_attribute("data-series", "2")
            expect(chart.locator("path.chart-line[data-series]")).to_have_count(2)
            expect(chart.locator(".chart-legend li")).to_have_text(["lr-high", "lr-low"])
        differences = page.locator("#spec-differences")
        expect(differences.locator("tr[data-key='hyperparams.learning_rate'] td")).to_have_text(
            ["hyperparams.learning_rate", "0.01", "0.001"]
        )
        expect(differences.locator("tr[data-key='hyperparams.epochs'] td")).to_have_text(
            ["hyperparams.epochs", "4", "6"]
        )
        expect(differences.locator("tr[data-key='framework']")).to_have_count(0)  # the same
        # The toy's loss halves each epoch: 1/16 after four, 1/64 after six (the best, in bold).
        best_loss = page.locator("#metric-summary tr[data-metric='loss'][data-row='best'] td")
        expect(best_loss).to_have_text([re.compile("loss best"), "0.0625", "0.01563"])
        expect(best_loss.nth(2)).to_have_class(re.compile("winner"))

    shows_the_comparison()
    path = screenshot(page, "compare.png")
    assert path.stat().st_size > 10_000
    if update_docs_screenshots():
        DOCS_COMPARE_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_COMPARE_SCREENSHOT), full_page=True)

    # The address is the comparison: opened afresh, it shows the same.
    page.reload()
    shows_the_comparison()
    page.locator(f"#spec-differences th[data-job-id='{ids[1]}'] a").click()
    expect(page).to_have_url(re.compile(f"#/jobs/{ids[1]}$"))


def test_cancel_button_cancels_a_running_job_and_resume_starts_another_from_the_form(stack, page):
    job = submit(
        stack, toy_spec(stack.dataset, hyperparams={"epochs": 60}, options={"epoch_seconds": 0.5})
    )
    page.goto(f"{stack.url}/#/jobs/{job['id']}")
    badge = page.locator(".job-head .badge")
    expect(badge).to_have_attribute("data-state", "running", timeout=30_000)  # a busy machine
    # A checkpoint to resume from.
    expect(page.locator("a.artifact-link", has_text="last.bin")).to_have_count(1)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#cancel-job")
    assert wait_ended(stack, job["id"])["state"] == "cancelled"
    expect(page.locator(".job-head .badge")).to_have_attribute("data-state", "cancelled")
    expect(page.locator("#error-details")).to_contain_text("How it ended")
    screenshot(page, "job-cancelled.png")

    # Resume opens the New job page with the job's spec and resume_from set to it.
    page.click("#resume-job")
    expect(page).to_have_url(re.compile(rf"#/new\?resume={job['id']}$"))
    expect(page.locator("#prefilled-from")).to_contain_text("Resuming")
    expect(page.locator("input[name='resume_from']")).to_have_value(job["id"])
    expect(page.locator("input[name='hyperparams.epochs']")).to_have_value("60")
    page.click("#submit-job")
    expect(page).to_have_url(re.compile(r"#/jobs/job-[0-9a-f]+$"))
    resumed_id = page.url.rsplit("/", 1)[1]
    assert resumed_id != job["id"]
    resumed = get_job(stack, resumed_id)
    assert resumed["resumed_from"] == job["id"]
    assert resumed["spec"]["hyperparams"]["epochs"] == 60
    assert resumed["spec"]["options"] == {"epoch_seconds": 0.5}
    stack.api.cancel_job(resumed_id)  # no need to train it


def test_a_failed_job_shows_its_error_details(stack, page):
    job = submit(stack, toy_spec(stack.dataset, options={"fail_at_epoch": 2}))
    assert wait_ended(stack, job["id"])["state"] == "failed"
    page.goto(f"{stack.url}/#/jobs/{job['id']}")
    details = page.locator("#error-details")
    expect(details).to_contain_text("toy failure at epoch 2")
    expect(details.locator("h2")).to_have_text("Error")
    expect(page.locator("#resume-job")).to_be_visible()
    expect(page.locator("#cancel-job")).to_have_count(0)
    screenshot(page, "job-failed.png")


def test_frameworks_page_shows_each_service(stack, page):
    page.goto(f"{stack.url}/#/frameworks")
    toy = page.locator("section.service[data-framework='toy']")
    expect(toy.locator(".badge")).to_have_text("healthy")
    expect(toy.locator(".device")).to_have_text("cpu")
    for text in ("toy 1.0", "classification", "imagefolder", "counter", "of 2"):
        expect(toy).to_contain_text(text)
    timm = page.locator("section.service[data-framework='timm']")
    expect(timm.locator(".badge")).to_have_text("down")
    expect(timm.locator(".alert")).to_contain_text("connection refused")
    screenshot(page, "frameworks.png")


def test_weights_page_lists_seeded_weights(stack, page):
    """Reached from the navigation; with nothing seeded it says so (seeding itself needs a
    framework that loads weights: tests/integration/test_weights_api.py)."""
    page.goto(f"{stack.url}/#/jobs")
    page.locator("nav a[data-nav='weights']").click()
    expect(page.locator("nav a[data-nav='weights']")).to_have_class("active")
    expect(page.locator("h1")).to_have_text("Weights")
    expect(page.locator(".card .empty")).to_have_text("No weights are seeded.")


def test_api_key_is_asked_for_kept_and_sent_with_every_call(stack, new_page):
    page = new_page
    page.goto(f"{stack.url}/")
    dialog = page.locator("#key-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("needs an API key")

    page.fill("#key-input", "not-the-key")
    page.click("#key-save")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("refused the saved key")

    page.fill("#key-input", API_KEY)
    page.click("#key-save")
    expect(dialog).to_be_hidden()
    assert page.evaluate("localStorage.getItem('trainyard.apiKey')") == API_KEY

    # The jobs table, the job page and its log stream all carry the key.
    job = submit(stack, toy_spec(stack.dataset))
    page.locator(f"tr[data-job-id='{job['id']}'] a").click()
    expect(page.locator(".log.live .line", has_text="epoch 1 step 0")).to_have_count(1)
    expect(page.locator(".job-head .badge")).to_have_attribute("data-state", "succeeded")
    expect(dialog).to_be_hidden()

    page.click("#key-button")
    page.click("#key-forget")
    expect(dialog).to_be_visible()  # the next refresh needs a key again
    assert page.evaluate("localStorage.getItem('trainyard.apiKey')") is None


def test_only_the_dashboards_own_files_are_served_and_without_a_key(stack):
    page = httpx.get(f"{stack.url}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    script = httpx.get(f"{stack.url}/dashboard/js/app.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    for path in ("routes.py", "..%2Froutes.py", "js/..%2F..%2Fmetrics.py", "nothing.css"):
        missing = httpx.get(f"{stack.url}/dashboard/{path}")
        assert missing.status_code == 404, path
        body = missing.json()
        assert body["message"].startswith("the dashboard has no file")
        assert "js/app.js" in body["errors"][0]["allowed"]
