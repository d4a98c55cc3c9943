"""Chromium enforces the framing rules: an allowed site may frame the web chat's pages, no
site may frame the admin panel, and a site that is not allowed frames nothing."""

from __future__ import annotations

import time

import pytest

from tests.support.html_site import serve_pages
from tests.support.live_server import LiveServer, free_port


def _embedding_site(app_url: str, port: int):
    """A page on another origin that frames the chat's demo page and the login page."""
    page = (f'<!doctype html><title>shop</title>'
            f'<iframe id="chat" src="{app_url}/chat/demo"></iframe>'
            f'<iframe id="admin" src="{app_url}/login"></iframe>')
    return serve_pages(port, lambda path: page)


@pytest.fixture
def app_and_shop(tmp_path):
    shop_port = free_port()
    server = LiveServer({
        "HOME": str(tmp_path), "DATABASE_PATH": str(tmp_path / "frame.db"),
        "SECRET_KEY_FILE": str(tmp_path / "secret"),
        # The shop is allowed; the same page served as http://localhost:… is another origin.
        "CHAT_ALLOWED_ORIGINS": f"http://127.0.0.1:{shop_port}",
    }, log_path=tmp_path / "server.log").start()
    shop = _embedding_site(server.url, shop_port)
    yield server, shop_port
    shop.shutdown()
    shop.server_close()
    server.stop()


def _visit(page, url: str, refusals: list[str], expected: int) -> dict[str, str]:
    """Load the page (its load event waits for both frames, shown or refused) and say what
    each frame shows: its title, or "" when the browser refused to frame it."""
    refusals.clear()
    page.goto(url)
    deadline = time.monotonic() + 10
    while len(refusals) < expected and time.monotonic() < deadline:
        page.wait_for_timeout(100)  # console messages arrive just after the load event
    shown = {}
    for name in ("chat", "admin"):
        frame = page.frame(url=lambda u, name=name: u.endswith(
            "/chat/demo" if name == "chat" else "/login"))
        shown[name] = frame.title() if frame is not None else ""
    return shown


def test_only_allowed_sites_frame_the_chat_and_nobody_frames_the_admin(page, app_and_shop):
    _, shop_port = app_and_shop
    refusals: list[str] = []
    page.on("console", lambda msg: refusals.append(msg.text)
            if "frame-ancestors" in msg.text else None)

    allowed = _visit(page, f"http://127.0.0.1:{shop_port}/", refusals, expected=1)
    assert "web chat demo" in allowed["chat"]
    assert allowed["admin"] == ""
    assert len(refusals) == 1 and "frame-ancestors 'none'" in refusals[0]

    elsewhere = _visit(page, f"http://localhost:{shop_port}/", refusals, expected=2)
    assert elsewhere == {"chat": "", "admin": ""}
    assert len(refusals) == 2
    assert sum("frame-ancestors 'none'" in r for r in refusals) == 1  # the admin page
    assert sum(f"frame-ancestors 'self' http://127.0.0.1:{shop_port}" in r
               for r in refusals) == 1  # the chat, which only the allowed shop may frame
