"""The ceiling: a bare FastAPI app under the gateway's own production server configuration.

`python -m bench.ceiling` serves, with the settings the gateway reads (HOST, PORT,
GATEWAY_WORKERS), `GET /health`, `GET /constant` (a constant answer) and the callback route
`POST /internal/v1/jobs/{id}/events` (parses the batch with the callback endpoint's own model and
acknowledges it without checking a token or storing anything). What the gateway answers slower
than this is the gateway's own work.
"""

from __future__ import annotations

from fastapi import FastAPI

from trainyard_gateway.serve import GatewayServer
from trainyard_gateway.settings import GatewaySettings
from trainyard_wire.events import BatchAck, EventBatch


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/constant")
    def constant() -> dict[str, str]:
        return {"id": "job-0123456789abcdef", "state": "succeeded"}

    @app.post("/internal/v1/jobs/{job_id}/events", response_model=BatchAck)
    def events(job_id: str, batch: EventBatch) -> BatchAck:
        seqs = [event.seq for event in batch.events]
        return BatchAck(stored=len(seqs), duplicates=0, last_seq=max(seqs))

    return app


class CeilingServer(GatewayServer):
    def load(self) -> FastAPI:
        return bare_app()


if __name__ == "__main__":
    CeilingServer(GatewaySettings()).run()
