"""The Supabase store's HTTP connection pool under gevent: idle connections checked with a
plain ``poll(2)``.

Before each request and after each response, httpcore's pool checks every idle
keep-alive connection for a server-side close, with ``select.poll()`` and a timeout of 0
(``is_socket_readable``; see encode/httpcore#928, still open, on how that adds up). Under
gevent's monkey-patching ``select.poll`` is gevent's: each check sets up watchers and
switches to the hub and back, about 24 µs against about 1 µs for the system call (measured
here on one socket). With a pool of 20 connections that is 40 checks, near 1 ms of CPU,
per store call; profiling a web process with 20 admin sockets open put 10 % of its CPU
there.

``transport(url, limits)`` gives an ``httpx.HTTPTransport`` whose pool uses the unpatched
``poll`` for that check only. A poll with timeout 0 never waits, so calling the real one
from a greenlet blocks nothing. Reads, writes and connects are httpcore's own and stay
cooperative. Without gevent's patching (tests, ``flask run``) it answers None: httpx's
own transport already uses the real ``poll``. When the environment names a proxy for
``url`` (``services/http_pool.proxy_for``: requests' rules, so ``NO_PROXY`` can exempt the
store's host) it also answers None, since httpx applies environment proxies only to its
own transport.
"""

from __future__ import annotations

import select
import socket
import ssl
from typing import Any, Iterable

import httpcore
import httpx

from services import http_pool


def _real_poll():
    """The system ``select.poll``, whether or not gevent has patched the module."""
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return select.poll
    return monkey.get_original("select", "poll")


def _patched() -> bool:
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover
        return False
    return monkey.is_module_patched("select")


def readable(sock: socket.socket | None, poll=None) -> bool:
    """True when a read would not wait: data, or the peer closed (httpcore's meaning)."""
    fd = -1 if sock is None else sock.fileno()
    if fd < 0:
        return True
    poller = (poll or _real_poll())()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class _Stream(httpcore.NetworkStream):
    """httpcore's stream, with the readability check on the real ``poll``."""

    def __init__(self, inner: httpcore.NetworkStream, poll) -> None:
        self._inner = inner
        self._poll = poll

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, timeout),
                       self._poll)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return readable(self._inner.get_extra_info("socket"), self._poll)
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    """httpcore's own blocking backend (cooperative under gevent), streams wrapped."""

    def __init__(self, poll) -> None:
        self._inner = httpcore.SyncBackend()
        self._poll = poll

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_tcp(host, port, timeout, local_address,
                                               socket_options), self._poll)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_unix_socket(path, timeout, socket_options),
                       self._poll)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class RealPollTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` over a pool built with the backend above."""

    def __init__(self, limits: httpx.Limits, poll=None, ssl_context=None) -> None:
        super().__init__(limits=limits)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=_Backend(poll or _real_poll()),
        )


def transport(url: str, limits: httpx.Limits,
              ssl_context: ssl.SSLContext | None = None) -> httpx.HTTPTransport | None:
    """The transport for the store's client at ``url``, or None for httpx's own (see
    above)."""
    if not _patched() or http_pool.proxy_for(url):
        return None
    return RealPollTransport(limits, ssl_context=ssl_context)
