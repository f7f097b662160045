"""Start one node of a distributed run: `python -m trainyard_runtime.distributed.launch`.

On node 0 the launcher is the job's one voice: it reports `running`, keeps heartbeats going
while the group lives, relays every rank's events (`relay.py`) and sends the final status
itself (`verdict.py`). On other nodes it only runs its ranks, which report to node 0's relay
at `--master-addr`. The executors build this command (the subprocess executor with one node,
a Kubernetes Indexed Job with one pod per node); the ranks run the framework's train module.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from types import FrameType

from trainyard_runtime.distributed.group import Cancelled, GroupShape, run_group
from trainyard_runtime.distributed.relay import RelayServer
from trainyard_runtime.distributed.verdict import EXIT_FAILED, GroupOutcome, decide
from trainyard_runtime.distributed.world import RELAY_ADDRESS
from trainyard_runtime.failure import OomKillCounter
from trainyard_runtime.reporter import Reporter
from trainyard_runtime.run_environment import RunEnvironment
from trainyard_runtime.training.offline_sink import OfflineSink
from trainyard_runtime.training.output_capture import OutputCapture

SPILL_FILE = "trainyard-events.jsonl"  # as run_training's: events waiting for the gateway


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m trainyard_runtime.distributed.launch")
    parser.add_argument("--nproc-per-node", type=int, required=True)
    parser.add_argument("--nnodes", type=int, default=1)
    parser.add_argument("--node-rank", type=int, default=0)
    parser.add_argument("--master-addr", default="127.0.0.1")
    parser.add_argument(
        "--master-port", type=int, default=None, help="rendezvous port (one node: a free one)"
    )
    parser.add_argument("--relay-port", type=int, required=True, help="node 0's relay port")
    parser.add_argument("--relay-host", default="127.0.0.1", help="where node 0's relay binds")
    parser.add_argument("module", help="the train module each rank runs with python -m")
    return parser.parse_args(argv)


def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Cancelled()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    shape = GroupShape(
        nproc_per_node=args.nproc_per_node,
        nnodes=args.nnodes,
        node_rank=args.node_rank,
        master_addr=args.master_addr,
        master_port=args.master_port,
    )
    if args.node_rank != 0:  # node 0 speaks for the job; this node only runs its ranks
        os.environ[RELAY_ADDRESS] = f"{args.master_addr}:{args.relay_port}"
        outcome = run_group(shape, args.module)
        return 0 if outcome.succeeded else EXIT_FAILED
    return _lead(args, shape)


def _lead(args: argparse.Namespace, shape: GroupShape) -> int:
    env = RunEnvironment.from_env()
    signal.signal(signal.SIGTERM, _on_sigterm)
    env.workspace.mkdir(parents=True, exist_ok=True)
    sink: Reporter | OfflineSink
    if env.callback_url and env.callback_token:
        sink = Reporter(
            env.callback_url,
            env.callback_token,
            heartbeat_interval=env.heartbeat_interval,
            max_buffered=env.reporter_max_buffered,
            spill_path=env.workspace / SPILL_FILE,
        ).start()
    else:
        sink = OfflineSink()
    capture = OutputCapture(sink.log).start()
    oom = OomKillCounter.of_this_process()
    oom_before = oom.read()
    relay = RelayServer(sink, env.callback_token or "", args.relay_host, args.relay_port).start()
    os.environ[RELAY_ADDRESS] = f"127.0.0.1:{relay.port}"
    world = shape.nnodes * shape.nproc_per_node
    try:
        sink.status("running")
        print(
            f"[trainyard] job {env.job_id}: {world} processes ({shape.nnodes} node(s) x "
            f"{shape.nproc_per_node}) of {args.module}",
            flush=True,
        )
        outcome = run_group(shape, args.module)
    except Cancelled:
        outcome = GroupOutcome(cancelled=True)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    relay.close()
    oom_after = oom.read()
    outcome.oom_killer_fired = (
        oom_before is not None and oom_after is not None and oom_after > oom_before
    )
    verdict = decide(outcome, relay.ranks)
    if verdict.state != "succeeded":
        print(f"[trainyard] group {verdict.state}: {verdict.fields.get('message')}", flush=True)
    capture.stop()
    sink.status(verdict.state, **verdict.fields)
    if not sink.close(timeout=env.final_delivery_timeout):
        print("[trainyard] some events could not be delivered to the gateway", file=sys.stderr)
    if env.exit_code_file is not None:
        with contextlib.suppress(OSError):
            env.exit_code_file.write_text(str(verdict.exit_code))
    return verdict.exit_code


if __name__ == "__main__":
    sys.exit(main())
