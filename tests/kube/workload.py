"""What the executor tests' Jobs run (`python -m kube.workload`), steered by its environment.

WORKLOAD_OUTPUT: printed first (`\\n` for new lines); WORKLOAD_PRINT_ENV: names of variables
it then prints as NAME=value; WORKLOAD_IGNORE_SIGTERM: if set, SIGTERM does not end it;
WORKLOAD_ALLOCATE_MB: memory it then fills and holds; WORKLOAD_SECONDS: how long it then
sleeps; WORKLOAD_EXIT: its exit code.
"""

from __future__ import annotations

import os
import signal
import sys
import time


def main() -> int:
    output = os.environ.get("WORKLOAD_OUTPUT", "")
    if output:
        sys.stdout.write(output.replace("\\n", "\n"))
    for name in os.environ.get("WORKLOAD_PRINT_ENV", "").split():
        sys.stdout.write(f"{name}={os.environ.get(name, '')}\n")
    sys.stdout.flush()
    if os.environ.get("WORKLOAD_IGNORE_SIGTERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    held = b"\x01" * (int(os.environ.get("WORKLOAD_ALLOCATE_MB", "0")) << 20)
    time.sleep(float(os.environ.get("WORKLOAD_SECONDS", "0")))
    del held
    return int(os.environ.get("WORKLOAD_EXIT", "0"))


if __name__ == "__main__":
    sys.exit(main())
