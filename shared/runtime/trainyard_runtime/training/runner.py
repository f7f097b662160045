"""The lifecycle of one training run, the same in a subprocess and in a Kubernetes Job.

`run_training(train)` reads the run's environment, reports `running`, calls the framework's
`train(ctx)`, and always ends with one final status — succeeded, failed (with the reason,
exception and last log lines) or cancelled (on SIGTERM) — delivered before the process exits.

A rank of a distributed run (torchrun's `WORLD_SIZE` > 1) reports the same events to its
launcher's relay instead (trainyard_runtime.distributed), which speaks for the whole group:
the rank's final status is evidence for the launcher's verdict, not the job's final word.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import traceback
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any, NoReturn

from trainyard_runtime.distributed.parent import die_with_parent
from trainyard_runtime.distributed.relay_sink import RelaySink
from trainyard_runtime.distributed.world import WorldPosition
from trainyard_runtime.failure import exception_reason
from trainyard_runtime.reporter import Reporter
from trainyard_runtime.run_environment import RunEnvironment
from trainyard_runtime.storage import StorageError, open_storage
from trainyard_runtime.tracking import open_tracker
from trainyard_runtime.training.context import TrainingContext
from trainyard_runtime.training.datasets import resolve_dataset
from trainyard_runtime.training.errors import TrainingError
from trainyard_runtime.training.offline_sink import OfflineSink
from trainyard_runtime.training.output_capture import OutputCapture
from trainyard_runtime.training.registration import register_best
from trainyard_runtime.training.torch_env import stay_offline
from trainyard_wire.failures import CANCELLED_MESSAGE, FailureReason

TrainFn = Callable[[TrainingContext], Mapping[str, Any] | None]

EXIT_FAILED = 1
EXIT_CANCELLED = 128 + signal.SIGTERM
SPILL_FILE = "trainyard-events.jsonl"  # in the work dir: events waiting for the gateway


class Cancelled(BaseException):
    """Raised in the main thread when the run is asked to stop (SIGTERM)."""


def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    # Ignore further SIGTERMs while we wind down and report.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Cancelled()


def _failure_reason(exc: BaseException) -> FailureReason:
    if isinstance(exc, TrainingError):
        return exc.reason
    if isinstance(exc, StorageError):
        return FailureReason.STORAGE_UNAVAILABLE
    return exception_reason(exc) or FailureReason.EXCEPTION  # cuda_oom, out_of_memory


def run_training(train: TrainFn, env: RunEnvironment | None = None) -> NoReturn:
    stay_offline()
    env = env or RunEnvironment.from_env()
    world = WorldPosition.from_env()
    work_dir = env.workspace
    if world is not None:
        # Each rank its own scratch folder: ranks of one node share the run's.
        work_dir = work_dir if world.is_main else work_dir / f"rank-{world.rank}"
        die_with_parent()
        sink: Any = RelaySink.connect(world.relay_address, world.rank, env.callback_token or "")
    elif env.callback_url and env.callback_token:
        sink = Reporter(
            env.callback_url,
            env.callback_token,
            heartbeat_interval=env.heartbeat_interval,
            max_buffered=env.reporter_max_buffered,
            spill_path=work_dir / SPILL_FILE,
        ).start()
    else:
        sink = OfflineSink()
    capture = OutputCapture(sink.log).start()
    signal.signal(signal.SIGTERM, _on_sigterm)
    tracker = open_tracker(
        env.mlflow_tracking_uri if world is None or world.is_main else None,
        sink,
        ui_url=env.mlflow_ui_url,
        experiment_prefix=env.mlflow_experiment_prefix,
        continue_run_id=env.mlflow_run_id,
    )
    code = 0
    ctx: TrainingContext | None = None
    try:
        sink.status("running")
        print(f"[trainyard] job {env.job_id}: {env.spec.framework} {env.spec.model}", flush=True)
        tracker.start(env.job_id, env.spec)
        storage = open_storage(env.storage_uri)
        work_dir.mkdir(parents=True, exist_ok=True)
        ctx = TrainingContext(
            job_id=env.job_id,
            spec=env.spec,
            dataset_dir=resolve_dataset(env.spec.dataset, storage),
            work_dir=work_dir,
            storage=storage,
            reporter=sink,
            tracker=tracker,
            checkpoint_interval=env.checkpoint_interval,
            weights_access=env.weights_access(),
            rank=world.rank if world else 0,
            world_size=world.world_size if world else 1,
        )
        final = {k: float(v) for k, v in (train(ctx) or {}).items()}
        registered = register_best(
            env.mlflow_tracking_uri,
            env.job_id,
            env.spec,
            ctx.checkpoints.get("best"),
            tracker.run,
            final,
        )
        tracker.finish("FINISHED")
        extra: dict[str, Any] = {}
        if ctx.stopped_early:
            extra["stopped_early"] = ctx.stopped_early.model_dump()
        if registered:
            extra["registered"] = registered.model_dump()
        if ctx.result is not None:
            extra["result"] = ctx.result
        sink.status("succeeded", metrics=final, **extra)
    except Cancelled:
        print("[trainyard] stop requested: training cancelled", flush=True)
        tracker.finish("KILLED")
        sink.status("cancelled", reason=FailureReason.CANCELLED, message=CANCELLED_MESSAGE)
        code = EXIT_CANCELLED
    except BaseException as exc:
        traceback.print_exc()
        sys.stderr.flush()
        tracker.finish("FAILED")
        capture.stop()  # flush the traceback into the tail before we read it
        code = EXIT_FAILED
        sink.status(
            "failed",
            reason=_failure_reason(exc),
            error_type=type(exc).__name__,
            message=str(exc)[:8000] or type(exc).__name__,
            exit_code=code,
            log_tail=list(capture.tail),
            **({"result": ctx.result} if ctx is not None and ctx.result is not None else {}),
        )
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        capture.stop()
        delivered = sink.close(timeout=env.final_delivery_timeout)
        if not delivered:
            print("[trainyard] some events could not be delivered to the gateway", file=sys.stderr)
    # For a restarted service, no longer our parent; in a group, the launcher leaves it.
    if env.exit_code_file is not None and world is None:
        with contextlib.suppress(OSError):
            env.exit_code_file.write_text(str(code))
    sys.exit(code)
