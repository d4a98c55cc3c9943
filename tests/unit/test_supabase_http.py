"""The Supabase store's connection pool under gevent (``services.store.supabase_http``):
idle connections are checked with the system's poll, and a connection the server closed
is still noticed and replaced."""

import socket
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from services.store import supabase_http
from tests.conftest import REPO

LIMITS = httpx.Limits(max_connections=10, max_keepalive_connections=5, keepalive_expiry=20)


def test_readable_means_data_waiting_or_the_peer_gone():
    mine, theirs = socket.socketpair()
    try:
        assert not supabase_http.readable(mine)
        theirs.sendall(b"x")
        assert supabase_http.readable(mine)
        mine.recv(1)
        assert not supabase_http.readable(mine)
        theirs.close()
        assert supabase_http.readable(mine)  # a read would return b"" at once
    finally:
        mine.close()
    assert supabase_http.readable(None)


class _KeepAlive(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    opened: list[socket.socket] = []

    def do_GET(self):  # noqa: N802
        type(self).opened.append(self.connection)
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _serve(tls: ssl.SSLContext | None = None):
    _KeepAlive.opened = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAlive)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    return server, f"{scheme}://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def keep_alive_server():
    server, url = _serve()
    yield url, _KeepAlive.opened
    server.shutdown()
    server.server_close()


@pytest.fixture
def tls_server(tmp_path):
    """The same server over TLS, with a certificate made for the test (Supabase is https)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server, url = _serve(tls)
    yield url, _KeepAlive.opened, ssl.create_default_context(cafile=str(cert))
    server.shutdown()
    server.server_close()


def _counting_poll():
    """The system's poll, counting its uses: (the count, the poll)."""
    polls = []

    def poll():
        polls.append(1)
        return supabase_http._real_poll()()

    return polls, poll


def _close_server_side(opened: list[socket.socket]) -> None:
    for conn in opened:
        conn.shutdown(socket.SHUT_RDWR)


def test_a_connection_the_server_closed_is_replaced_not_reused(keep_alive_server):
    url, opened = keep_alive_server
    polls, counting_poll = _counting_poll()
    with httpx.Client(transport=supabase_http.RealPollTransport(LIMITS, poll=counting_poll)) as client:
        assert client.get(url).text == "ok"
        _close_server_side(opened)
        assert client.get(url).text == "ok"  # on a new connection, not the dead one
    assert len(opened) == 2
    assert polls, "the pool never asked the transport's poll"


def test_over_tls_too_a_closed_connection_is_replaced(tls_server):
    url, opened, client_tls = tls_server
    polls, counting_poll = _counting_poll()
    transport = supabase_http.RealPollTransport(LIMITS, poll=counting_poll,
                                                ssl_context=client_tls)
    with httpx.Client(transport=transport) as client:
        assert client.get(url).text == "ok"
        _close_server_side(opened)
        assert client.get(url).text == "ok"
    assert len(opened) == 2
    assert polls


def test_the_check_matters_a_pool_that_never_sees_the_close_fails(keep_alive_server):
    """The control for the test above: with the check answering "not readable", the pool
    reuses the closed connection and the request fails."""
    url, opened = keep_alive_server

    class NeverReadable:
        def register(self, *_):
            pass

        def poll(self, _timeout):
            return []

    with httpx.Client(transport=supabase_http.RealPollTransport(LIMITS, poll=NeverReadable)) as client:
        assert client.get(url).text == "ok"
        _close_server_side(opened)
        with pytest.raises(httpx.TransportError):
            client.get(url)


def test_without_gevent_patching_httpx_keeps_its_own_transport():
    assert supabase_http.transport("http://127.0.0.1:1", LIMITS) is None


_UNDER_GEVENT = r"""
from gevent import monkey
monkey.patch_all()
import os, select, socket, threading
import httpx
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from services.store import supabase_http

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a): pass

server = ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}"

gevent_poll = select.poll
calls = []
def counted():
    calls.append(1)
    return gevent_poll()
select.poll = counted  # what httpcore's own check would call

limits = httpx.Limits(max_connections=10, max_keepalive_connections=5, keepalive_expiry=20)
chosen = supabase_http.transport(url, limits)
assert isinstance(chosen, supabase_http.RealPollTransport), chosen
with httpx.Client(transport=chosen) as client:
    for _ in range(20):
        assert client.get(url).text == "ok"
print("gevent polls:", len(calls))
assert not calls, "the pool used gevent's poll"

with httpx.Client() as stock:  # the control: httpx's own transport does use it
    for _ in range(20):
        assert stock.get(url).text == "ok"
assert calls, "httpx's own pool no longer polls: this module may be unneeded"
# A proxy for the store's host: httpx's own transport, which applies it; one for other
# hosts only (NO_PROXY names the store's): this one.
for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(name, None)
os.environ["HTTPS_PROXY"] = "http://proxy.invalid:3128"
assert supabase_http.transport("https://project.supabase.example", limits) is None
assert isinstance(supabase_http.transport(url, limits), supabase_http.RealPollTransport)
os.environ["HTTP_PROXY"] = "http://proxy.invalid:3128"
assert supabase_http.transport(url, limits) is None
os.environ["NO_PROXY"] = "127.0.0.1,.internal"
assert isinstance(supabase_http.transport(url, limits), supabase_http.RealPollTransport)
print("ok")
"""


def test_under_gevent_the_pool_never_uses_gevents_poll():
    done = subprocess.run([sys.executable, "-c", _UNDER_GEVENT], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("ok")
