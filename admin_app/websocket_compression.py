"""Socket.IO over WebSocket without permessage-deflate, unless asked for.

Browsers offer the permessage-deflate extension on every WebSocket; the server library here
(simple-websocket) accepts whatever is offered. Compressing each frame for each socket costs
the app CPU on every event it fans out to every admin tab (a deflate stream per socket, and
its memory), for a few hundred bytes of JSON a frame -- Engine.IO's own server stopped
accepting it by default for that reason (engine.io 3.5.0, ``perMessageDeflate: false``).
This middleware drops the client's offer from the handshake, so the socket runs uncompressed;
``SOCKETIO_WEBSOCKET_COMPRESSION=true`` keeps it (a slow link, many large events).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

OFFER = "HTTP_SEC_WEBSOCKET_EXTENSIONS"


class DeclineWebSocketCompression:
    """WSGI middleware: a WebSocket upgrade under ``path`` reaches the app without its
    ``Sec-WebSocket-Extensions`` offer; every other request passes untouched."""

    def __init__(self, app: Callable[..., Iterable[bytes]], path: str = "/socket.io") -> None:
        self.app = app
        self.path = path.rstrip("/") + "/"

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if OFFER in environ and (environ.get("PATH_INFO") or "").startswith(self.path):
            environ = dict(environ)
            del environ[OFFER]
        return self.app(environ, start_response)
