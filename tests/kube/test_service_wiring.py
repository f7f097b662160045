"""A training service with TRAINING_EXECUTOR=kubernetes, as a real process, against kmock."""

from __future__ import annotations

from pathlib import Path

import httpx
from kubernetes.client import BatchV1Api

from tests.support.processes import Processes, free_port

from .emulator import EmulatedCluster
from .test_executor import cluster  # noqa: F401 - the module's emulator fixture

SPEC = {
    "framework": "toy",
    "task": "classification",
    "model": "counter",
    "dataset": {"uri": "/data/shapes", "format": "imagefolder"},
    "hyperparams": {"epochs": 2},
}


def start_body(job_id: str) -> dict:
    return {
        "job_id": job_id,
        "spec": SPEC,
        "callback_url": f"http://127.0.0.1:9/internal/v1/jobs/{job_id}/events",
        "callback_token": "t" * 32,
    }


def test_runs_become_jobs_and_an_unreachable_cluster_fails_the_start(
    processes: Processes,
    cluster: EmulatedCluster,  # noqa: F811
    tmp_path: Path,
    internal_headers: dict[str, str],
) -> None:
    kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
    _, url = processes.toy_service(TRAINING_EXECUTOR="kubernetes", KUBECONFIG=str(kubeconfig))
    with httpx.Client(base_url=url, headers=internal_headers, timeout=30) as http:
        # As a retried attempt: it goes on in the job's MLflow run.
        mlflow_run_id = "0123456789abcdef" * 2
        started = http.post(
            "/v1/runs", json={**start_body("job-svc"), "mlflow_run_id": mlflow_run_id}
        )
        assert started.status_code == 201, started.text
        assert started.json()["executor"] == "kubernetes"
        with cluster.client() as api:
            job = BatchV1Api(api).read_namespaced_job("trainyard-job-svc", "training")
        (container,) = job.spec.template.spec.containers
        assert container.command == ["python", "-m", "toy_framework.train"]
        assert {"MLFLOW_RUN_ID": mlflow_run_id}.items() <= {
            e.name: e.value for e in container.env
        }.items()
        odd = http.post("/v1/runs", json={**start_body("job-odd"), "mlflow_run_id": "../x"})
        assert odd.status_code == 422 and odd.json()["errors"][0]["field"] == "mlflow_run_id"
        assert http.get("/v1/runs/job-svc").json()["status"] == "pending"
        wrong = http.post(
            "/v1/runs", json={**start_body("job-x"), "spec": {**SPEC, "executor": "subprocess"}}
        )
        assert wrong.status_code == 422
        assert wrong.json()["errors"][0]["allowed"] == ["kubernetes"]

    dead = tmp_path / "dead-kubeconfig"
    dead.write_text(kubeconfig.read_text().replace(cluster.url, f"http://127.0.0.1:{free_port()}"))
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
