"""The HTTP plumbing every fake shares: a threaded server on loopback and a call log.

A fake subclasses ``FakeServer`` and implements ``handle(request) -> Reply``. Start it
with ``with MyFake() as fake:`` (``fake.url`` is its base URL) or from a command line
through ``serve_forever_cli``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    """One request as the fake saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float = field(default_factory=time.time)

    def json(self):
        return json.loads(self.body or b"null")


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data, status: int = 200, headers: dict[str, str] | None = None) -> "Reply":
        return cls(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})


class FakeServer:
    """A ThreadingHTTPServer on 127.0.0.1 running in a daemon thread."""

    def __init__(self, port: int = 0) -> None:
        self.calls: list[Request] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in two sends: without this, Nagle's algorithm holds
            # the second about 40 ms on every request
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(self.command, parts.path, parse_qs(parts.query),
                              {k.lower(): v for k, v in self.headers.items()}, body)
                with fake._lock:
                    fake.calls.append(req)
                if req.headers.get("upgrade", "").lower() == "websocket":
                    # the connection now belongs to the WebSocket session; it ends with it
                    fake.websocket(req, self)
                    self.close_connection = True
                    return
                try:
                    reply = fake.handle(req)
                except Exception as exc:  # a bug in the fake must show, not hang the client
                    reply = Reply.json({"error": f"fake server error: {exc!r}"}, 500)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    try:
                        self.wfile.write(reply.body)
                    except (BrokenPipeError, ConnectionResetError):  # the client gave up (timed out)
                        self.close_connection = True

            do_GET = do_POST = do_DELETE = do_PUT = do_HEAD = _serve

            def log_message(self, *args) -> None:  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handle(self, request: Request) -> Reply:  # pragma: no cover - abstract
        raise NotImplementedError

    def websocket(self, request: Request, handler: BaseHTTPRequestHandler) -> None:
        """Serve a WebSocket upgrade on ``handler``'s connection (fakes that speak one)."""
        handler.send_error(400, "WebSocket not supported here")

    def calls_to(self, method: str, path_part: str) -> list[Request]:
        with self._lock:
            return [c for c in self.calls if c.method == method and path_part in c.path]

    def start(self) -> "FakeServer":
        # a short poll interval: shutdown() waits up to one interval (0.5 s by default)
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve_forever_cli(factory, description: str) -> None:
    """``python -m tests.fakes.X --port N``: run a fake until Ctrl-C."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0)
    args, extra = parser.parse_known_args()
    fake = factory(port=args.port, argv=extra)
    print(f"{type(fake).__name__} listening on {fake.url}", flush=True)
    try:
        fake.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
