"""A web site of its own on loopback, for browser tests that need another origin: a shop
that embeds the widget, a page that frames the app. A real server (not Playwright's
routing), so that Chromium treats it as the loopback site it is and lets it reach the app."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


def serve_pages(port: int, page_for: Callable[[str], str]) -> ThreadingHTTPServer:
    """Serve ``page_for(path)`` as HTML for every GET on 127.0.0.1:``port``, from a thread;
    ``shutdown()`` and ``server_close()`` it when done."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            page = page_for(self.path).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd
