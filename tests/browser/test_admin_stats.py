"""The stats page in Chromium: cards and charts with data, live; the team's table for a
period, live; the export downloads."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import requests
from playwright.sync_api import expect

from services.events import EventBus
from services.models import InboundMessage, OutboundMessage
from services.store.sqlite import SqliteStore
from services.tracking import ConversationTracker
from tests.support.admin_browser import (  # noqa: F401  (site is a fixture)
    ADMINS,
    AGENT,
    sign_in,
    site,
    wait_until,
)


def _card(page, key):
    return page.locator(f".stat-card[data-key={key}] .value")


def _hint(page, key):
    return page.locator(f".stat-card[data-key={key}] .hint")


def test_stats_charts_render_with_data_and_update_live(page, site):  # noqa: F811
    site.visitor("Stella Stats").say("What are your opening hours?")
    site.messenger_user().say("I want to speak to a human")
    sign_in(page, site)
    page.goto(site.url + "/stats")
    page.wait_for_selector("body[data-ready=stats]")
    expect(_card(page, "total_conversations")).to_have_text("2")
    expect(page.locator("#platforms tbody tr")).to_have_count(2)
    # The rates say what they count, so two that look alike can be told apart.
    expect(_hint(page, "escalation_rate")).to_have_text("1 conversation flagged for a human")
    expect(_hint(page, "handoff_rate")).to_have_text("1 conversation a person took part in")
    expect(_hint(page, "bot_resolved_rate")).to_have_text("0 closed conversations with no person")

    charts = page.evaluate("""() => Object.fromEntries(
        Object.entries(window.__statsCharts).map(([id, chart]) => {
            const canvas = document.getElementById(id);
            const sum = (i) => chart.data.datasets[i].data.reduce((a, b) => a + b, 0);
            const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
            return [id, { width: canvas.width, height: canvas.height, buckets: chart.data.labels.length,
                          messages: sum(0), escalations: sum(1), painted }];
        })
    )""")
    assert set(charts) == {"chart-hourly", "chart-daily"}
    assert charts["chart-hourly"]["buckets"] == 24 and charts["chart-daily"]["buckets"] == 30
    for chart in charts.values():
        assert chart["width"] > 100 and chart["height"] > 100
        assert chart["messages"] >= 3 and chart["escalations"] >= 1
        assert chart["painted"] > 1000  # something was drawn: the canvas is not blank

    site.visitor("Leo Live").say("hello")
    expect(_card(page, "total_conversations")).to_have_text("3", timeout=15_000)


def test_export_downloads_csv_and_json(page, site):  # noqa: F811
    visitor = site.visitor("Erin Export")
    visitor.say("Please keep this, for the export")
    site.visitor("Otto Other").say("Me too")
    sign_in(page, site)
    page.goto(site.url + "/stats")
    page.wait_for_selector("body[data-ready=stats]")
    with page.expect_download() as info:
        page.click("#export-submit")
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert any(r["content"] == "Please keep this, for the export" and
               r["display_name"] == "Erin Export" for r in rows)

    page.select_option("#export-format", "json")
    with page.expect_download() as info:
        page.click("#export-submit")
    body = json.loads(open(info.value.path(), encoding="utf-8").read())
    names = {c["display_name"] for c in body["conversations"]}
    assert "Erin Export" in names and len(names) > 1

    # Only one tag's conversations: the form offers the tags in use.
    page.evaluate("""(id) => import("/static/js/common.js").then(({ api }) =>
        api(`/admin/conversations/${id}/tags`, { method: "POST", json: { tag: "to export" } }))""",
                  visitor.conversation_id)
    page.reload()
    page.wait_for_selector("body[data-ready=stats]")
    page.select_option("#export-tag", "to export")
    page.select_option("#export-format", "json")
    with page.expect_download() as info:
        page.click("#export-submit")
    body = json.loads(open(info.value.path(), encoding="utf-8").read())
    assert [(c["display_name"], c["tags"]) for c in body["conversations"]] == [
        ("Erin Export", ["to export"])]


def test_every_page_fits_a_phone_screen(page, site):  # noqa: F811
    """At a phone's width no page is wider than the screen (a wide table scrolls inside its
    panel), and the stats cards sit two to a row."""
    visitor = site.visitor("Pia Phone")
    visitor.say("I want to speak to a human")
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, site)
    for path, ready in [("/", "inbox"), ("/stats", "stats"),
                        (f"/conversations/{visitor.conversation_id}", "conversation"),
                        ("/settings", None)]:
        page.goto(site.url + path)
        if ready:
            page.wait_for_selector(f"body[data-ready={ready}]")
        if ready == "stats":
            expect(page.locator("#platforms tbody tr")).not_to_have_count(0)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width} px wide on a 390 px screen"
    page.goto(site.url + "/stats")
    page.wait_for_selector("body[data-ready=stats]")
    lefts = page.evaluate(
        "[...document.querySelectorAll('.stat-card')].slice(0, 4)"
        ".map(c => Math.round(c.getBoundingClientRect().left))")
    assert lefts[0] == lefts[2] and lefts[1] == lefts[3] and lefts[0] < lefts[1], lefts


def _token(site, email: str) -> dict[str, str]:  # noqa: F811
    made = site.server.flask("tokens", "create", email, "--name", "team")
    assert made.returncode == 0, made.stderr
    return {"Authorization": f"Bearer {made.stdout.strip().split()[-1]}"}


def _team_rows(page) -> list[list[str]]:
    return page.eval_on_selector_all(
        "#team-table tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))")


def _days_ago_by(site, email: str, days: int) -> None:  # noqa: F811
    """What ``email`` did ``days`` ago, written to the server's store by a tracker whose
    clock says so: a reply in a new conversation, then closing it."""
    when = datetime.now(timezone.utc) - timedelta(days=days)
    store = SqliteStore(site.server.env["DATABASE_PATH"])
    try:
        tracker = ConversationTracker(store, EventBus(), clock=lambda: when)
        account = store.get_user_by_email(email)
        conversation = tracker.track_inbound(InboundMessage(
            platform="webchat", external_user_id=f"team-{email}", content="hello",
            respond=False)).conversation
        tracker.track_outbound(OutboundMessage(conversation_id=conversation.id,
                                               sender_type="agent", sender_id=email,
                                               content="hello from the team"))
        tracker.close(conversation.id, by=account)
    finally:
        store.close()


def test_team_table_shows_each_account_for_the_period_live(page, site):  # noqa: F811
    sign_in(page, site)
    page.goto(site.url + "/stats")
    page.wait_for_selector("body[data-ready=stats]")
    # Nobody has done anything yet in this module's site.
    expect(page.locator("#team-empty")).to_be_visible()
    expect(page.locator("#team-empty")).to_have_text("No agent activity in this period")
    expect(page.locator("#team-table")).to_be_hidden()

    # Today: the agent picks up a conversation a person escalated, replies, leaves a note.
    visitor = site.visitor("Tia Team")
    visitor.say("I want to speak to a human")
    carl = _token(site, AGENT)
    base = f"{site.url}/admin/conversations/{visitor.conversation_id}"
    for action, body in (("take-over", None), ("messages", {"content": "Carl here"}),
                         ("notes", {"text": "<b>VIP</b> customer"})):
        answer = requests.post(f"{base}/{action}", json=body, headers=carl, timeout=10)
        assert answer.status_code in (200, 201), answer.text
    # Three days ago: the second admin replied in a conversation and closed it.
    _days_ago_by(site, ADMINS[1], days=3)

    page.reload()
    page.wait_for_selector("#team-table[data-period='7']")
    header = page.eval_on_selector_all("#team-table thead th", "ths => ths.map(t => t.textContent)")
    assert header == ["Account", "Picked up", "Replies", "Conversations replied",
                      "First response (median)", "Handed back", "Closed", "Notes",
                      "Open assigned now"]
    rows = _team_rows(page)
    assert [r[0] for r in rows] == [ADMINS[1], AGENT]
    assert rows[0][1:4] + rows[0][5:] == ["0", "1", "1", "0", "1", "0", "0"]
    assert rows[1][1:4] + rows[1][5:] == ["1", "1", "1", "0", "0", "1", "1"]
    assert rows[1][4].endswith(" s")  # answered seconds after the escalation
    assert rows[0][4] == "—"  # never escalated: no time to show
    expect(page.locator("#team-empty")).to_be_hidden()

    page.check("input[name=team-period][value=today]")
    page.wait_for_selector("#team-table[data-period=today]")
    assert [r[0] for r in _team_rows(page)] == [AGENT]
    page.check("input[name=team-period][value='30']")
    page.wait_for_selector("#team-table[data-period='30']")
    assert [r[0] for r in _team_rows(page)] == [ADMINS[1], AGENT]

    # Live: closing the conversation reaches the table with the next stats.updated.
    assert requests.post(f"{base}/close", headers=carl, timeout=10).status_code == 200
    carl_closed = page.locator("#team-table tbody tr", has_text=AGENT).locator("td").nth(6)
    expect(carl_closed).to_have_text("1", timeout=15_000)
    expect(page.locator("#team-table tbody tr", has_text=AGENT).locator("td").nth(8)
           ).to_have_text("0")

    # The table scrolls inside its panel on a phone; at a laptop's width it fits. (The page
    # is no wider than the screen once the charts have followed the new width.)
    for width, scrolls in ((1366, False), (390, True)):
        page.set_viewport_size({"width": width, "height": 844})
        wait_until(page, "w => document.documentElement.scrollWidth <= w", width)
        wrap = page.evaluate("""() => {
            const wrap = document.querySelector('.team-panel .table-wrap');
            return [wrap.scrollWidth, wrap.clientWidth];
        }""")
        assert (wrap[0] > wrap[1]) is scrolls, wrap
