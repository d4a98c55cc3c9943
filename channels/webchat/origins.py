"""Which web pages may use the chat: this app's own origin plus ``CHAT_ALLOWED_ORIGINS``.

Browsers send ``Origin`` with every WebSocket handshake and every cross-origin request; a
request without one comes from the same origin or from a program that is not a browser,
which an Origin check could not stop anyway (the visitor token is what protects data).
"""

from __future__ import annotations

from typing import Iterable, Mapping
from urllib.parse import urlsplit


def _origin(value: str) -> str:
    parts = urlsplit(value.strip().lower())
    return f"{parts.scheme}://{parts.netloc}"


class OriginPolicy:
    """Answers "may a page from this origin use the chat?" for HTTP and Socket.IO."""

    def __init__(self, allowed: Iterable[str]) -> None:
        allowed = list(allowed)
        self.any = "*" in allowed
        self.allowed = frozenset(_origin(o) for o in allowed if o != "*")

    @property
    def cross_origin(self) -> bool:
        """True when pages of other origins are allowed at all."""
        return self.any or bool(self.allowed)

    def allows(self, origin: str | None, *hosts: str | None) -> bool:
        """``origin`` is the request's Origin header, ``hosts`` the names this app was
        reached by (the Host header, after ProxyFix). Same host means same origin here:
        the scheme is not compared, so a TLS-terminating proxy needs no extra setting."""
        if not origin:
            return True
        if origin == "null":  # sandboxed frames and file:// pages
            return self.any
        if self.any:
            return True
        wanted = _origin(origin)
        netloc = urlsplit(wanted).netloc
        if any(host and netloc == host.strip().lower() for host in hosts):
            return True
        return wanted in self.allowed

    def allows_environ(self, origin: str | None, environ: Mapping[str, str]) -> bool:
        """The same question asked by the Engine.IO server with a WSGI environ."""
        forwarded = environ.get("HTTP_X_FORWARDED_HOST", "").split(",")[0]
        return self.allows(origin, environ.get("HTTP_HOST"), forwarded)
