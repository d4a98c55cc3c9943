"""A plain-http forward proxy for tests of clients that honour ``HTTP_PROXY``.

A real ``ThreadingHTTPServer`` on a free 127.0.0.1 port, in a thread. It takes an
absolute-URI request (what a client sends to a forward proxy), records the method, the
target and the ``Proxy-Authorization`` header, makes the request itself and relays the
answer::

    with ForwardProxy() as proxy:
        os.environ["HTTP_PROXY"] = proxy.url
        ...
        assert proxy.seen == [("POST", "http://127.0.0.1:8000/x", None)]
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


#: Every variable that decides an outgoing call's proxy or trusted certificates
#: (``services/http_pool.py``); tests clear them all before setting the ones they test.
ENVIRONMENT = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY",
               "all_proxy", "NO_PROXY", "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
               "SSL_CERT_FILE", "SSL_CERT_DIR")


def clear_environment(monkeypatch) -> None:
    """Unset every variable of ``ENVIRONMENT`` for the test (restored after it)."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


class ForwardProxy:
    def __init__(self) -> None:
        #: (method, absolute URI, Proxy-Authorization or None), in the order received.
        self.seen: list[tuple[str, str, str | None]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "ForwardProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _relay(self) -> None:
                proxy.seen.append((self.command, self.path,
                                   self.headers.get("Proxy-Authorization")))
                target = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in
                           ("proxy-authorization", "proxy-connection", "host")}
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=5)
                try:
                    upstream.request(self.command, target.path
                                     + (f"?{target.query}" if target.query else ""),
                                     body=body or None, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                finally:
                    upstream.close()
                self.send_response(answer.status)
                for name in ("Content-Type", "Content-Range"):
                    if answer.getheader(name):
                        self.send_header(name, answer.getheader(name))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _relay

            def log_message(self, *args: object) -> None:
                pass

        return Handler
