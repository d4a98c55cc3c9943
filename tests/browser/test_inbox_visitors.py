"""The inbox says which web chat visitors are on the site now, in Chromium, on a live
server (SQLite): their widgets answer the inbox's question, and their going is followed."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_widget import _serve, _sign_in_agent, admin_api, open_chat, send


@pytest.fixture
def server(tmp_path):
    server = _serve(tmp_path)
    yield server
    server.stop()


def test_the_inbox_shows_which_visitors_are_on_the_site(server, browser):
    admin = admin_api(server)
    here, gone = browser.new_context().new_page(), browser.new_context().new_page()
    agent = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        for visitor, text in ((gone, "Do you ship to Oslo?"),
                              (here, "What are your opening hours?")):
            open_chat(visitor, server)
            send(visitor, text)
            expect(visitor.locator(".sb-from-bot[data-id]")).to_have_count(1, timeout=15000)
        listed = admin("GET", "/admin/conversations?platform=webchat")["conversations"]
        first = {c["id"]: admin("GET", f"/admin/conversations/{c['id']}")["messages"][0]
                 ["content"] for c in listed}
        (here_id,) = [cid for cid, text in first.items() if "hours" in text]
        (gone_id,) = [cid for cid, text in first.items() if "Oslo" in text]
        gone.context.close()  # left the site before the agent looked

        _sign_in_agent(agent, server)
        row = agent.locator(f'.conv-row[data-id="{here_id}"] .row-here')
        expect(row).to_be_visible(timeout=10000)
        expect(row).to_have_text("On the site")
        expect(row).to_have_attribute("title", f"On the site now · chat open · {here.title()}")
        expect(agent.locator(f'.conv-row[data-id="{gone_id}"] .row-here')).to_be_hidden()

        here.locator(".sb-close").click()  # the chat closed, the page still open
        expect(row).to_have_attribute("title", f"On the site now · chat closed · {here.title()}",
                                      timeout=10000)
        here.context.close()  # gone from the site
        expect(row).to_be_hidden(timeout=10000)
    finally:
        agent.context.close()
