"""What the executor tests' Jobs run (`python -m kube.workload`), steered by its spec.

It reads the run's environment as train.py does, and takes its steps from the spec's options:
`output`: printed first (`\\n` for new lines); `print_env`: names of variables it then prints
as NAME=value; `ignore_sigterm`: if true, SIGTERM does not end it; `allocate_mb`: memory it then
fills and holds; `hold_file`: a path it then waits for (at most 120 s); `seconds`: how long it
then sleeps; `exit`: its exit code. `per_node`: steps by the pod's completion index (a pod of
an Indexed Job), over the others.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from trainyard_runtime.run_environment import RunEnvironment
from trainyard_servicekit.executors.kubernetes.distributed import COMPLETION_INDEX


def main() -> int:
    steps = RunEnvironment.from_env().spec.options
    index = os.environ.get(COMPLETION_INDEX, "")
    steps = {**steps, **(steps.get("per_node") or {}).get(index, {})}
    output = str(steps.get("output", ""))
    if output:
        sys.stdout.write(output.replace("\\n", "\n"))
    for name in str(steps.get("print_env", "")).split():
        sys.stdout.write(f"{name}={os.environ.get(name, '')}\n")
    sys.stdout.flush()
    if steps.get("ignore_sigterm"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    held = b"\x01" * (int(steps.get("allocate_mb", 0)) << 20)
    deadline = time.monotonic() + 120
    while steps.get("hold_file") and not os.path.exists(steps["hold_file"]):
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    time.sleep(float(steps.get("seconds", 0)))
    del held
    return int(steps.get("exit", 0))


if __name__ == "__main__":
    sys.exit(main())
