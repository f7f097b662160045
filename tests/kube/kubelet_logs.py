"""The kubelet API's `/containerLogs`, served over TLS to clients with a certificate from the
cluster's CA, so a Pod's log goes API server → kubelet as in a cluster."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .kubelet_pod import PodRun
from .kubelet_status import NODE_IP


def log_server(
    by_name: dict[tuple[str, str], PodRun],
    requests: list[tuple[str, dict[str, str]]],
    cert: Path,
    key: Path,
    ca: Path,
) -> ThreadingHTTPServer:
    """Serves the logs of the Pods in `by_name` (namespace, name), noting each request."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # the body ends when the connection closes

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            parts = url.path.strip("/").split("/")
            requests.append((url.path, query))
            if len(parts) != 4 or parts[0] != "containerLogs":
                self.send_error(404)
                return
            run = by_name.get((parts[1], parts[2]))
            if run is None or run.proc is None:
                self.send_error(400, f'container "{parts[3]}" is waiting to start')
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            tail = int(query["tailLines"]) if "tailLines" in query else None
            for chunk in log_chunks(run, tail, query.get("follow") == "true"):
                self.wfile.write(chunk)
                self.wfile.flush()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((NODE_IP, 0), Handler)
    server.daemon_threads = True
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.load_verify_locations(ca)
    context.verify_mode = ssl.CERT_REQUIRED
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return server


def log_chunks(run: PodRun, tail: int | None, follow: bool) -> Iterator[bytes]:
    with run.log_path.open("rb") as f:
        data = f.read()
        if tail is not None:
            lines = data.splitlines(keepends=True)
            data = b"".join(lines[-tail:]) if tail > 0 else b""
        yield data
        while follow:
            more = f.read()
            if more:
                yield more
            elif run.proc is not None and run.proc.poll() is not None:
                yield f.read()
                return
            else:
                time.sleep(0.05)
