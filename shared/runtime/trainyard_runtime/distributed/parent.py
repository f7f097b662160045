"""A rank ends when its launcher ends, however the launcher ended.

torchrun starts each rank in a session of its own, out of reach of the process-group kill an
executor uses to stop a run. If the launcher is SIGKILLed (a stop past its grace), its ranks
must not train on as orphans: the kernel kills a rank whose parent dies (Linux's
PR_SET_PDEATHSIG), and a rank whose relay connection closes kills itself (relay_sink.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask the kernel for SIGKILL when the parent (torchrun's agent) dies; Linux only."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it died before we asked
        os.kill(os.getpid(), signal.SIGKILL)
