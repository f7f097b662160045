"""The launcher's relay and its verdict: ranks over real TCP connections, one voice out."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from typing import Any

import pytest

from trainyard_runtime.distributed.relay import RelayServer
from trainyard_runtime.distributed.relay_sink import RelaySink
from trainyard_runtime.distributed.verdict import GroupOutcome, RankExit, decide
from trainyard_wire.failures import FailureReason

TOKEN = "t" * 32


class Recorder:
    """The launcher's reporter, as the relay sees it: what it was handed, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def log(self, line: str, stream: str = "stdout") -> None:
        self.events.append(("log", line))

    def metric(self, epoch, total_epochs, metrics, *, elapsed_seconds=None, eta_seconds=None):
        self.events.append(("metric", (epoch, total_epochs, dict(metrics))))

    def artifact(self, name, uri, size, sha256, kind="checkpoint"):
        self.events.append(("artifact", name))

    def tracking(self, **fields):
        self.events.append(("tracking", fields))

    def of(self, kind: str) -> list[Any]:
        return [value for each, value in self.events if each == kind]


@pytest.fixture
def relay():
    recorder = Recorder()
    server = RelayServer(recorder, TOKEN).start()
    yield server, recorder
    server.close(timeout=1)


def _ranks(server: RelayServer, count: int) -> list[RelaySink]:
    return [RelaySink.connect(f"127.0.0.1:{server.port}", rank, TOKEN) for rank in range(count)]


def test_one_voice_rank_zero_reports_every_rank_logs(relay) -> None:
    server, recorder = relay
    zero, one = _ranks(server, 2)
    for sink in (zero, one):
        sink.status("running")
        sink.log(f"epoch 1 on rank {sink.rank}")
        sink.metric(1, 2, {"top1": 0.5, "loss": float("nan")})
        sink.artifact("best.pt", "file:///x", 1, "ab")
        sink.tracking(run_id="r")
    zero.status("succeeded", metrics={"top1": 0.5})
    one.status("cancelled", reason="cancelled")
    zero.close()
    one.close()
    server.close(timeout=5)
    assert sorted(recorder.of("log")) == [
        "[rank 0] epoch 1 on rank 0",
        "[rank 1] epoch 1 on rank 1",
    ]
    assert recorder.of("metric") == [(1, 2, {"top1": 0.5, "loss": None})]  # rank 0's only
    assert recorder.of("artifact") == ["best.pt"]
    assert recorder.of("tracking") == [{"run_id": "r"}]
    # Final statuses wait for the launcher's verdict; `running` is the launcher's own.
    assert server.ranks[0].final == {"state": "succeeded", "metrics": {"top1": 0.5}}
    assert server.ranks[1].final is not None and server.ranks[1].final["state"] == "cancelled"
    assert list(server.ranks[1].tail) == ["epoch 1 on rank 1"]
    verdict = decide(GroupOutcome(succeeded=True), server.ranks)
    assert (verdict.state, verdict.exit_code) == ("succeeded", 0)
    assert verdict.fields == {"metrics": {"top1": 0.5}}


def test_a_connection_without_the_jobs_token_is_not_heard(relay) -> None:
    """Not one of this job's ranks: the relay drops it unheard, and such a rank ends."""
    server, recorder = relay
    code = (
        "import time; from trainyard_runtime.distributed.relay_sink import RelaySink; "
        f"s = RelaySink.connect('127.0.0.1:{server.port}', 0, 'wrong-token'); "
        "s.metric(1, 1, {'top1': 1.0}); s.log('not from this job'); time.sleep(60)"
    )
    stranger = subprocess.Popen([sys.executable, "-c", code])
    try:
        assert stranger.wait(timeout=30) == -signal.SIGKILL
    finally:
        stranger.kill()
    server.close(timeout=5)
    assert recorder.events == []
    assert server.ranks == {}


def _rank_process(port: int, rank: int, line: str) -> subprocess.Popen[str]:
    """A rank in a process of its own: connects, logs `line`, says so, then waits."""
    code = (
        "import time; from trainyard_runtime.distributed.relay_sink import RelaySink; "
        f"s = RelaySink.connect('127.0.0.1:{port}', {rank}, {TOKEN!r}); s.log({line!r}); "
        "print('ready', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_a_rank_killed_first_is_named_not_the_ranks_torn_down_after_it(relay) -> None:
    server, _ = relay
    (zero,) = _ranks(server, 1)
    one = _rank_process(server.port, 1, "step 7")
    one.kill()  # dies without a word
    one.communicate()
    deadline = time.monotonic() + 10
    while server.record(1).ended_at is None and time.monotonic() < deadline:
        time.sleep(0.05)
    zero.status("failed", reason="exception", message="Connection closed by peer")
    zero.close()
    server.close(timeout=5)
    outcome = GroupOutcome(failures=[RankExit(1, 137, signal.SIGKILL)])
    verdict = decide(outcome, server.ranks)
    assert verdict.state == "failed"
    assert verdict.fields["reason"] == FailureReason.RANK_LOST
    assert verdict.fields["message"].startswith("rank 1 killed by signal SIGKILL")
    assert verdict.fields["exit_code"] == 137
    assert verdict.fields["log_tail"] == ["step 7"]


def test_a_rank_that_raised_gives_its_own_reason(relay) -> None:
    server, _ = relay
    zero, one = _ranks(server, 2)
    one.status(
        "failed", reason="dataset_invalid", message="bad image x.png", log_tail=["Traceback"]
    )
    one.close()
    time.sleep(0.2)
    zero.status("cancelled", reason="cancelled")  # torn down by torchrun
    zero.close()
    server.close(timeout=5)
    verdict = decide(GroupOutcome(failures=[RankExit(1, 1, None)]), server.ranks)
    assert verdict.fields["reason"] == "dataset_invalid"
    assert verdict.fields["message"] == "rank 1: bad image x.png"
    assert verdict.fields["log_tail"] == ["Traceback"]


def test_cancel_and_silent_success_are_the_launchers_to_say() -> None:
    assert decide(GroupOutcome(cancelled=True), {}).state == "cancelled"
    silent = decide(GroupOutcome(succeeded=True), {})
    assert silent.state == "failed"
    assert silent.fields["reason"] == FailureReason.EXITED_WITHOUT_RESULT


def test_a_rank_ends_itself_when_its_launcher_is_gone() -> None:
    """The launcher's side of the connection closes: the rank SIGKILLs itself."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    code = (
        "import sys, time; from trainyard_runtime.distributed.relay_sink import RelaySink; "
        f"RelaySink.connect('127.0.0.1:{port}', 1, 'token'); print('connected', flush=True); "
        "time.sleep(60)"
    )
    rank = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        conn, _ = listener.accept()
        assert rank.stdout is not None and rank.stdout.readline().strip() == "connected"
        conn.close()  # the launcher died
        assert rank.wait(timeout=30) == -signal.SIGKILL
    finally:
        rank.kill()
        rank.communicate()
        listener.close()
