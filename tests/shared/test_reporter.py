"""The reporter against a real HTTP server that misbehaves on purpose."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.processes import free_port
from trainyard_runtime.reporter import Reporter


class Collector:
    """A callback endpoint: fails the first `fail_first` requests with 503, then stores."""

    def __init__(self, fail_first: int = 0, status_after: int = 200, port: int = 0) -> None:
        self.fail_first = fail_first
        self.status_after = status_after
        self.requests = 0
        self.events: list[dict] = []
        self.auth: set[str] = set()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                collector.requests += 1
                collector.auth.add(self.headers.get("Authorization", ""))
                if collector.requests <= collector.fail_first:
                    status = 503
                else:
                    status = collector.status_after
                    if status == 200:
                        collector.events.extend(body["events"])
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector():
    made = []

    def make(**kwargs):
        made.append(Collector(**kwargs))
        return made[-1]

    yield make
    for c in made:
        c.close()


def test_events_arrive_once_in_order_despite_errors(collector):
    server = collector(fail_first=3)
    reporter = Reporter(server.url, "tok-123", batch_size=7, heartbeat_interval=3600).start()
    reporter.status("running")
    for epoch in range(1, 21):
        reporter.log(f"line {epoch}")
        reporter.metric(epoch, 20, {"loss": 1 / epoch, "diverged": float("nan")})
    reporter.status("succeeded")
    assert reporter.close(timeout=30)
    seqs = [e["seq"] for e in server.events]
    assert seqs == list(range(1, len(seqs) + 1))
    types = [e["type"] for e in server.events]
    assert types[-1] == "status" and server.events[-1]["state"] == "succeeded"
    assert types.count("metric") == 20 and types.count("log") == 20
    assert server.events[2]["metrics"] == {"loss": 1.0, "diverged": None}
    assert server.requests > 3  # the failed attempts were retried
    assert server.auth == {"Bearer tok-123"}


def test_heartbeats_flow_without_other_events(collector):
    server = collector()
    reporter = Reporter(server.url, "t", heartbeat_interval=0.1, flush_interval=0.05).start()
    threading.Event().wait(0.6)
    assert reporter.close(timeout=5)
    assert sum(1 for e in server.events if e["type"] == "heartbeat") >= 3


def test_close_gives_up_after_its_deadline_when_the_gateway_stays_away():
    reporter = Reporter(f"http://127.0.0.1:{free_port()}/e", "t", heartbeat_interval=3600).start()
    reporter.status("succeeded")
    assert reporter.close(timeout=1.0) is False
    assert reporter.pending >= 1


def test_a_refused_batch_is_dropped_not_retried_forever(collector):
    server = collector(status_after=401)
    reporter = Reporter(server.url, "wrong", heartbeat_interval=3600).start()
    reporter.log("x")
    assert reporter.close(timeout=5)
    assert reporter.rejected == 1 and server.requests == 1


def test_a_long_outage_spills_to_disk_and_delivers_everything_once_in_order(collector, tmp_path):
    port = free_port()  # nothing listens there yet: the gateway is down
    spill = tmp_path / "work" / "events.jsonl"
    reporter = Reporter(
        f"http://127.0.0.1:{port}/events",
        "t",
        heartbeat_interval=3600,
        flush_interval=0.05,
        max_backoff=0.3,
        max_buffered=20,
        spill_path=spill,
    ).start()
    reporter.status("running")
    for i in range(300):
        reporter.log(f"line {i}")
    reporter.status("succeeded")
    # 20 events wait in memory, the others (282 and any heartbeat) on disk.
    assert reporter.pending >= 302 and reporter.spilled >= 282
    assert len(spill.read_text().splitlines()) == reporter.pending - 20
    time.sleep(0.5)  # a few failed attempts while it is down
    server = collector(port=port)  # the gateway is back
    assert reporter.close(timeout=30)
    seqs = [e["seq"] for e in server.events]
    assert seqs == list(range(1, len(seqs) + 1))  # every event once, in order
    states = [e["state"] for e in server.events if e["type"] == "status"]
    assert states == ["running", "succeeded"]
    assert [e["line"] for e in server.events if e["type"] == "log"] == [
        f"line {i}" for i in range(300)
    ]
    assert not spill.exists()  # emptied and removed once everything arrived


def test_spilled_events_flow_again_while_new_ones_keep_coming(collector, tmp_path):
    port = free_port()
    reporter = Reporter(
        f"http://127.0.0.1:{port}/events",
        "t",
        heartbeat_interval=3600,
        flush_interval=0.02,
        max_backoff=0.2,
        max_buffered=5,
        batch_size=3,
        spill_path=tmp_path / "spill.jsonl",
    ).start()
    for i in range(40):
        reporter.log(f"before {i}")
    server = collector(port=port)
    for i in range(40):  # produced while the backlog drains
        reporter.log(f"after {i}")
        time.sleep(0.005)
    assert reporter.close(timeout=30)
    seqs = [e["seq"] for e in server.events]
    assert seqs == list(range(1, len(seqs) + 1))
    lines = [e["line"] for e in server.events if e["type"] == "log"]
    assert lines == [f"before {i}" for i in range(40)] + [f"after {i}" for i in range(40)]
    assert reporter.spilled >= 35


def test_close_still_ends_on_time_with_a_spill_when_the_gateway_stays_away(tmp_path):
    spill = tmp_path / "spill.jsonl"
    reporter = Reporter(
        f"http://127.0.0.1:{free_port()}/e",
        "t",
        heartbeat_interval=3600,
        max_buffered=5,
        spill_path=spill,
    ).start()
    for i in range(100):
        reporter.log(f"line {i}")
    started = time.monotonic()
    assert reporter.close(timeout=1.0) is False
    assert time.monotonic() - started < 5
    assert reporter.pending >= 100
    # Kept: what never reached the gateway, past the 5 that were in memory.
    assert len(spill.read_text().splitlines()) == reporter.pending - 5
