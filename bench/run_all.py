"""Run Trainyard's benchmarks and write their tables: `make bench` (`python -m bench.run_all`).

`--quick` is a fast smoke run with small counts; `--only NAME` runs some of them (repeatable).
A full run of all of them writes bench/results.md; other runs write bench/.work/results.md
unless `--output` says where.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import ModuleType

from bench import (
    api_load,
    callback_ingest,
    dispatch_throughput,
    distributed,
    framework_start,
    log_streaming,
    predict_latency,
    shared_cores,
    start_latency,
    storage,
    training_overhead,
    weights_tiers,
)
from bench.report import REPO, Table, machine_header
from bench.stack import without_proxies

# Quick ones first: a broken benchmark shows before the long ones run.
BENCHMARKS: dict[str, ModuleType] = {
    m.NAME: m
    for m in (
        start_latency,
        log_streaming,
        callback_ingest,
        api_load,
        dispatch_throughput,
        storage,
        weights_tiers,
        predict_latency,
        framework_start,
        training_overhead,
        shared_cores,
        distributed,
    )
}
WORK = REPO / "bench" / ".work"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHMARKS),
        metavar="NAME",
        help=f"run only this one (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--output", type=Path, help="where to write the tables")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, DBs)")
    args = parser.parse_args()
    # A SIGTERM (a timeout, a CI cancel) unwinds like Ctrl-C, so every started process stops.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    without_proxies()
    chosen = [BENCHMARKS[name] for name in args.only] if args.only else list(BENCHMARKS.values())
    full = not args.quick and not args.only
    output = args.output or (REPO / "bench" / "results.md" if full else WORK / "results.md")

    WORK.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=WORK))
    title = "Trainyard benchmarks" + (" (quick smoke run)" if args.quick else "")
    sections = [machine_header(title)]
    failed: list[str] = []
    began = time.monotonic()
    for module in chosen:
        started = time.monotonic()
        print(f"== {module.NAME} ...", flush=True)
        try:
            tables: list[Table] = module.run(work / module.NAME, args.quick)
        except Exception:
            failed.append(module.NAME)
            detail = traceback.format_exc()
            print(detail, file=sys.stderr, flush=True)
            sections.append(f"## {module.NAME}: failed\n\n```\n{detail[-2000:]}```\n")
            continue
        took = time.monotonic() - started
        for table in tables:
            table.notes.append(
                f"Benchmark `{module.NAME}` took {took:.0f} s; 1-minute load average at its "
                f"end: {os.getloadavg()[0]:.2f}."
            )
            sections.append(table.markdown())
            print(table.markdown(), flush=True)
        _write(output, sections)
    total = time.monotonic() - began
    sections.append(f"All of it took {total / 60:.1f} minutes.\n")
    _write(output, sections)
    print(f"== wrote {output} ({total / 60:.1f} minutes)")
    if not args.keep and not failed:
        shutil.rmtree(work, ignore_errors=True)
    elif failed:
        print(f"== failed: {', '.join(failed)}; logs and data kept in {work}", file=sys.stderr)
    return 1 if failed else 0


def _write(path: Path, sections: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(sections))


if __name__ == "__main__":
    sys.exit(main())
