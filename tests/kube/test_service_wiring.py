"""A training service with TRAINING_EXECUTOR=kubernetes, as a real process, against the real
control plane, holding the trainyard-service ServiceAccount's token (tests/kube/controlplane.py)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from kubernetes.client import BatchV1Api

from tests.support.processes import Processes, free_port

from .controlplane import ControlPlane

SPEC = {
    "framework": "toy",
    "task": "classification",
    "model": "counter",
    "dataset": {"uri": "/data/shapes", "format": "imagefolder"},
    "hyperparams": {"epochs": 2},
}


def wait_run(http: httpx.Client, run_id: str, status: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (run := http.get(f"/v1/runs/{run_id}").json())["status"] != status:
        assert time.monotonic() < deadline, run
        time.sleep(0.1)


def start_body(job_id: str) -> dict:
    return {
        "job_id": job_id,
        "spec": SPEC,
        "callback_url": f"http://127.0.0.1:9/internal/v1/jobs/{job_id}/events",
        "callback_token": "t" * 32,
    }


def test_runs_become_jobs_and_an_unreachable_cluster_fails_the_start(
    processes: Processes,
    cluster: ControlPlane,
    tmp_path: Path,
    internal_headers: dict[str, str],
) -> None:
    kubeconfig = cluster.write_service_kubeconfig(tmp_path / "kubeconfig")
    _, url = processes.toy_service(TRAINING_EXECUTOR="kubernetes", KUBECONFIG=str(kubeconfig))
    with httpx.Client(base_url=url, headers=internal_headers, timeout=30) as http:
        # As a retried attempt: it goes on in the job's MLflow run.
        mlflow_run_id = "0123456789abcdef" * 2
        started = http.post(
            "/v1/runs", json={**start_body("job-svc"), "mlflow_run_id": mlflow_run_id}
        )
        assert started.status_code == 201, started.text
        assert started.json()["executor"] == "kubernetes"
        with cluster.admin_client() as api:
            job = BatchV1Api(api).read_namespaced_job("trainyard-job-svc", "training")
        (container,) = job.spec.template.spec.containers
        assert container.command == ["python", "-m", "toy_framework.train"]
        assert {"MLFLOW_RUN_ID": mlflow_run_id}.items() <= {
            e.name: e.value for e in container.env
        }.items()
        odd = http.post("/v1/runs", json={**start_body("job-odd"), "mlflow_run_id": "../x"})
        assert odd.status_code == 422 and odd.json()["errors"][0]["field"] == "mlflow_run_id"
        # The service follows the run as the cluster runs it: the simulated kubelet starts the
        # toy's train.py (whose callbacks go nowhere: it keeps running), then the stop deletes
        # the Job.
        wait_run(http, "job-svc", "running")
        assert http.post("/v1/runs/job-svc/stop").status_code == 200
        wait_run(http, "job-svc", "stopped")
        with cluster.admin_client() as api:
            jobs, deadline = BatchV1Api(api), time.monotonic() + 30
            selector = "trainyard.io/job-id=job-svc"
            while jobs.list_namespaced_job("training", label_selector=selector).items:
                assert time.monotonic() < deadline, "the stopped run's Job is still there"
                time.sleep(0.1)
        wrong = http.post(
            "/v1/runs", json={**start_body("job-x"), "spec": {**SPEC, "executor": "subprocess"}}
        )
        assert wrong.status_code == 422
        assert wrong.json()["errors"][0]["allowed"] == ["kubernetes"]

    dead = tmp_path / "dead-kubeconfig"
    dead.write_text(kubeconfig.read_text().replace(cluster.url, f"https://127.0.0.1:{free_port()}"))
    _, down = processes.toy_service(TRAINING_EXECUTOR="kubernetes", KUBECONFIG=str(dead))
    with httpx.Client(base_url=down, headers=internal_headers, timeout=30) as http:
        refused = http.post("/v1/runs", json=start_body("job-down"))
        assert refused.status_code == 422
        assert refused.json()["message"].startswith("kubernetes cluster unreachable: create Job")

    _, fallback = processes.toy_service(
        TRAINING_EXECUTOR="kubernetes",
        KUBECONFIG=str(dead),
        KUBERNETES_FALLBACK_TO_SUBPROCESS="true",
    )
    with httpx.Client(base_url=fallback, headers=internal_headers, timeout=30) as http:
        ran = http.post("/v1/runs", json=start_body("job-fallback"))
        assert ran.status_code == 201, ran.text
        assert ran.json()["executor"] == "subprocess"
        assert "kubernetes cluster unreachable" in ran.json()["reason"]
        assert http.get("/v1/runs/job-fallback").json()["executor"] == "subprocess"
        # Its own process group outlives the service: end it here.
        assert http.post("/v1/runs/job-fallback/stop").status_code == 200
        wait_run(http, "job-fallback", "stopped")
