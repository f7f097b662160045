"""A local stand-in for the public model hubs, which cannot be reached from CI: a loopback HTTP
server in a thread of the test that speaks the Hugging Face hub's file-download protocol
(enough for huggingface_hub's hf_hub_download and snapshot_download) and serves plain files
the way Ultralytics' asset release does.

Hub protocol served: `GET /api/models/{repo}/revision/{rev}` (repo info with the commit sha),
`GET /api/models/{repo}/tree/{rev}` (the file list), `HEAD|GET /{repo}/resolve/{rev}/{file}`
(file metadata in X-Repo-Commit / ETag / Content-Length, then the bytes). Assets: `GET /{name}`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

COMMIT = "0123456789abcdef0123456789abcdef01234567"
_INFO = re.compile(r"^/api/models/(?P<repo>.+)/revision/(?P<rev>[^/]+)$")
_TREE = re.compile(r"^/api/models/(?P<repo>.+)/tree/(?P<rev>[^/]+)(?:/.*)?$")
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")


class HubServer:
    def __init__(self) -> None:
        self.repos: dict[str, Path] = {}
        self.assets: dict[str, Path] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self.authorizations: list[str] = []
        self.delay = 0.0  # seconds to wait before each answer: a slow but working hub
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add_repo(self, repo_id: str, folder: Path) -> None:
        self.repos[repo_id] = folder

    def add_asset(self, path: Path) -> None:
        self.assets[path.name] = path

    def files_fetched(self) -> list[str]:
        return [path for method, path in self.requests if method == "GET" and "/api/" not in path]

    def start(self) -> HubServer:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def _answer(self, body: bool) -> None:
                path = unquote(urlparse(self.path).path)
                with hub._lock:
                    hub.requests.append((self.command, path))
                    if self.headers.get("authorization"):
                        hub.authorizations.append(self.headers["authorization"])
                time.sleep(hub.delay)
                # The client may have stopped waiting for a slow answer.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._route(path, body)

            def _route(self, path: str, body: bool) -> None:
                if (m := _INFO.match(path)) and m["repo"] in hub.repos:
                    data = {"id": m["repo"], "sha": COMMIT, "siblings": self._siblings(m["repo"])}
                    return self._json(data, body)
                if (m := _TREE.match(path)) and m["repo"] in hub.repos:
                    return self._json(self._tree(m["repo"]), body)
                if (m := _RESOLVE.match(path)) and m["repo"] in hub.repos:
                    return self._file(hub.repos[m["repo"]] / m["file"], body, hub_file=True)
                name = path.lstrip("/")
                if name in hub.assets:
                    return self._file(hub.assets[name], body, hub_file=False)
                self._missing(body)

            def _files(self, repo: str) -> list[Path]:
                root = hub.repos[repo]
                return sorted(p for p in root.rglob("*") if p.is_file())

            def _siblings(self, repo: str) -> list[dict[str, str]]:
                root = hub.repos[repo]
                return [{"rfilename": p.relative_to(root).as_posix()} for p in self._files(repo)]

            def _tree(self, repo: str) -> list[dict[str, object]]:
                root = hub.repos[repo]
                return [
                    {
                        "type": "file",
                        "path": p.relative_to(root).as_posix(),
                        "size": p.stat().st_size,
                        "oid": hashlib.sha1(p.read_bytes()).hexdigest(),  # a git blob id
                    }
                    for p in self._files(repo)
                ]

            def _json(self, data: object, body: bool) -> None:
                raw = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                if body:
                    self.wfile.write(raw)

            def _file(self, path: Path, body: bool, hub_file: bool) -> None:
                if not path.is_file():
                    return self._missing(body, "EntryNotFound")
                raw = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("Content-Type", "application/octet-stream")
                if hub_file:
                    self.send_header("X-Repo-Commit", COMMIT)
                    self.send_header("ETag", f'"{hashlib.sha256(raw).hexdigest()}"')
                self.end_headers()
                if body:
                    self.wfile.write(raw)

            def _missing(self, body: bool, code: str = "RepoNotFound") -> None:
                raw = json.dumps({"error": "not found"}).encode()
                self.send_response(404)
                self.send_header("X-Error-Code", code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                if body:
                    self.wfile.write(raw)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
