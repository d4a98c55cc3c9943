"""A recording stand-in HTTP server for tests of outbound HTTP clients.

A real ``ThreadingHTTPServer`` on a free 127.0.0.1 port, in a thread. Tests queue the
responses it gives, in order (status, JSON or raw body, headers, a delay to force a client
timeout) and read back every request it received::

    with StubHttpServer() as stub:
        stub.queue(status=500)
        stub.queue(json={"text": "hi"})
        client_under_test(stub.url("/hook"))
        assert stub.requests[1].json() == {...}

``StubHttpServer(ssl_context=...)`` serves https instead (``base_url`` then names the host
as ``localhost``, for a certificate issued to it).
"""

from __future__ import annotations

import json as jsonlib
import ssl
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class StubResponse:
    """One queued answer: ``json`` wins over ``body``; ``delay`` seconds pass before it is sent."""

    status: int = 200
    json: Any = None
    body: bytes | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def payload(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if self.json is not None:
            headers.setdefault("Content-Type", "application/json")
            return jsonlib.dumps(self.json).encode(), headers
        body = self.body.encode() if isinstance(self.body, str) else (self.body or b"")
        return body, headers


@dataclass(frozen=True)
class RecordedRequest:
    """What the stand-in received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return jsonlib.loads(self.body)

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


class StubHttpServer:
    """Answers every request with the next queued response (404-free: any path, any method).

    With nothing queued it answers ``default`` (500 ``{"error": "nothing queued"}`` unless set).
    """

    def __init__(self, default: StubResponse | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.default = default or StubResponse(status=500, json={"error": "nothing queued"})
        self.requests: list[RecordedRequest] = []
        self._responses: deque[StubResponse] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._server.handle_error = lambda request, address: None  # a client gone is fine
        self._tls = ssl_context is not None
        if ssl_context is not None:
            # The handshake happens in the handler's thread, on its first read.
            self._server.socket = ssl_context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # -- use -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"https://localhost:{port}" if self._tls else f"http://{host}:{port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def queue(self, status: int = 200, json: Any = None, body: bytes | str | None = None,
              headers: dict[str, str] | None = None, delay: float = 0.0) -> None:
        """Add the next response."""
        with self._lock:
            self._responses.append(StubResponse(status, json, body, headers or {}, delay))

    def start(self) -> "StubHttpServer":
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # wakes handlers sleeping on a delay
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "StubHttpServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- serving ---------------------------------------------------------------------
    def _next(self, request: RecordedRequest) -> StubResponse:
        with self._lock:
            self.requests.append(request)
            return self._responses.popleft() if self._responses else self.default

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                recorded = RecordedRequest(self.command, self.path, dict(self.headers), body)
                response = stub._next(recorded)
                if response.delay and stub._closing.wait(response.delay):
                    return
                payload, headers = response.payload()
                try:
                    self.send_response(response.status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    if response.status not in (204, 304):
                        self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if payload and self.command != "HEAD":
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (e.g. its timeout); nothing to answer

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
