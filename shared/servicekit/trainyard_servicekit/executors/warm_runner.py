"""The warm runner: a process that has imported torch and the framework once, and forks a run.

Importing torch and a framework takes seconds; every cold run pays it again. This process pays
it once (`python -m trainyard_servicekit.executors.warm_runner FD MODULE…`) and then forks one
child per run. The child becomes its own session, writes to the run's log file, takes the run's
environment and folder, and runs its train module as `python -m` would (runpy, `__main__`,
`sys.argv`), so a warm run and a cold run are the same program.

It stays single-threaded, so a fork copies no lock held by another thread; nothing here touches
CUDA (a CUDA context does not survive a fork). It talks to the service over one stream socket
(FD), one JSON object a line:

- to the service: `{"ready": …}` once imported; `{"run_id", "pid", "start_time"}` per start;
  `{"run_id", "returncode"}` when that child ends (negative: killed by that signal).
- from the service: `{"run_id", "module", "env", "cwd", "log_path", "status_path"}`.

A child runs its module only once the runner has told the service its pid and confirmed it:
where the runner dies before it told the service, the service starts the run cold; where it
dies after telling but before confirming, the child leaves a `not_started` file beside the
run's exit status and exits (EXIT_NOT_STARTED) without running, and the service then starts the
run cold. Either way the run's code runs once. The runner reaps its children itself (a pidfd
per child wakes it) and leaves each one's returncode in `status_path` too, which a restarted
service reads. When the service goes away (the socket ends) it starts nothing more and exits
once its last child has ended.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import json
import os
import random
import runpy
import selectors
import socket
import sys
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainyard_servicekit.executors.process_identity import ProcessIdentity

CONTROL = "control"
# How a forked child ends when its runner died before confirming it (EX_TEMPFAIL), and the
# file it leaves beside the run's exit status so the service starts the run cold instead.
EXIT_NOT_STARTED = 75
NOT_STARTED_FILE = "not_started"


def thread_count() -> int:
    """This process's threads, native ones included (a fork copies only the calling one;
    OpenBLAS, which numpy loads, stops its pool before a fork and starts it again after)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def process_start_time(pid: int) -> int | None:
    identity = ProcessIdentity.of(pid)
    return identity.start_time if identity else None


def write_returncode(path: Path, returncode: int) -> None:
    """Written beside, then renamed over: a reader sees the whole file or none."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps({"returncode": returncode}))
    os.replace(temporary, path)


@dataclass
class ChildRun:
    """What a forked child runs: set itself up as the run, then the train module."""

    request: dict[str, Any]
    ready_fd: int
    go_fd: int  # the runner writes here once the service knows this child's pid
    inherited: list[int] = field(default_factory=list)  # the runner's own descriptors

    def prepare(self) -> None:
        os.setsid()  # its own session and process group: stop reaches all it starts
        for fd in self.inherited:
            with contextlib.suppress(OSError):
                os.close(fd)
        log = os.open(self.request["log_path"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.chdir(self.request["cwd"])
        env: dict[str, str] = self.request["env"]
        os.environ.clear()
        os.environ.update(env)
        # `python -m` puts the folder it starts in first on sys.path, then PYTHONPATH.
        extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        rest = [p for p in sys.path[1:] if p not in extra]
        sys.path[:] = [os.getcwd(), *extra, *rest]
        importlib.invalidate_caches()
        # A fresh interpreter seeds these from the OS; every child of one fork would share them.
        random.seed()
        numpy = sys.modules.get("numpy")
        if numpy is not None:
            numpy.random.seed()
        # The runner's frozen objects go back to the collector as the run ends, so they are
        # freed at exit as a cold run frees them (extensions that count their live objects at
        # exit, nanobind's, would otherwise report them as leaked into the run's log).
        atexit.register(gc.unfreeze)
        os.write(self.ready_fd, b"1")
        os.close(self.ready_fd)
        # A runner that dies before it told the service about this child leaves the service to
        # start the run cold: this copy must then never run, or the job would train twice.
        go = os.read(self.go_fd, 1)
        os.close(self.go_fd)
        if not go:
            status_path = self.request.get("status_path")
            if status_path:
                with contextlib.suppress(OSError):
                    Path(status_path).with_name(NOT_STARTED_FILE).write_text("runner died\n")
            os._exit(EXIT_NOT_STARTED)

    def run(self) -> None:
        """The train module as `python -m` runs it; an exception or exit ends the process as
        it would end that one."""
        sys.argv = [""]
        runpy.run_module(self.request["module"], run_name="__main__", alter_sys=True)


class Runner:
    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, tuple[int, str, Path]] = {}  # pidfd -> pid, run id, status
        self.pending = b""

    def send(self, message: dict[str, Any]) -> None:
        # Where the service is gone, the status file still says how the run ended.
        with contextlib.suppress(OSError):
            self.control.sendall(json.dumps(message).encode() + b"\n")

    def serve(self, imported: list[str]) -> ChildRun | None:
        """Start runs until the service goes away and the last child ends. In a child, return
        what it runs; in this process, None."""
        self.send(
            {
                "ready": True,
                "pid": os.getpid(),
                "threads": thread_count(),
                "python_threads": threading.active_count(),
                "imported": imported,
            }
        )
        self.selector.register(self.control, selectors.EVENT_READ, CONTROL)
        accepting = True
        while accepting or self.children:
            for key, _ in self.selector.select():
                if key.data == CONTROL:
                    data = self.control.recv(1 << 20)
                    if not data:
                        accepting = False
                        self.selector.unregister(self.control)
                        continue
                    self.pending += data
                    while b"\n" in self.pending:
                        line, self.pending = self.pending.split(b"\n", 1)
                        child = self.start(json.loads(line))
                        if child is not None:
                            return child
                else:
                    self.reap(key.fd)
        return None

    def start(self, request: dict[str, Any]) -> ChildRun | None:
        ready_read, ready_write = os.pipe()
        go_read, go_write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.close(ready_read)
            os.close(go_write)
            inherited = [self.control.fileno(), self.selector.fileno(), *self.children]
            return ChildRun(request, ready_write, go_read, inherited)
        os.close(ready_write)
        os.close(go_read)
        os.read(ready_read, 1)  # set up (own session, log, folder) or failed trying
        os.close(ready_read)
        pidfd = os.pidfd_open(pid)
        self.children[pidfd] = (pid, request["run_id"], Path(request["status_path"]))
        self.selector.register(pidfd, selectors.EVENT_READ, pid)
        self.send({"run_id": request["run_id"], "pid": pid, "start_time": process_start_time(pid)})
        with contextlib.suppress(OSError):  # a child that failed its setup has gone
            os.write(go_write, b"1")
        os.close(go_write)
        return None

    def reap(self, pidfd: int) -> None:
        pid, run_id, status_path = self.children.pop(pidfd)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        returncode = os.waitstatus_to_exitcode(status)
        try:
            write_returncode(status_path, returncode)
        except OSError as exc:
            print(f"warm runner: cannot write {status_path}: {exc}", file=sys.stderr)
        self.send({"run_id": run_id, "returncode": returncode})


def main(argv: list[str]) -> ChildRun | None:
    control = socket.socket(fileno=int(argv[0]))
    control.setblocking(True)
    imported = []
    for name in argv[1:]:
        importlib.import_module(name)
        imported.append(name)
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        # A forked child cannot use its parent's CUDA context: better no warm runner at all.
        raise SystemExit(f"warm runner: importing {', '.join(imported)} initialised CUDA")
    # What the imports made is moved out of the collector's reach: a run's full collections
    # (transformers' Trainer makes one as it starts: 0.4 s over these objects) scan only what
    # the run made, and no collection touches, and so copies, the pages a fork shares.
    gc.freeze()
    return Runner(control).serve(imported)


if __name__ == "__main__":
    child = main(sys.argv[1:])
    if child is not None:
        try:
            child.prepare()
        except BaseException:
            traceback.print_exc()
            os._exit(127)
        # The run, here at the top level: its exit and its uncaught exceptions end this
        # process as they end `python -m <module>`.
        child.run()
