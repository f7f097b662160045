"""Public model registry API: the registered models and their versions (MLflow's registry)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from trainyard_gateway.deps import GatewayDep
from trainyard_gateway.model_registry import list_models
from trainyard_wire.registry import ModelList

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", response_model=ModelList)
async def list_all(gateway: GatewayDep) -> ModelList:
    """Every registered model with its versions: the job, framework, model, data set, metrics
    and checkpoint of each (empty when the gateway has no MLFLOW_TRACKING_URI)."""
    return await run_in_threadpool(list_models, gateway.settings)
