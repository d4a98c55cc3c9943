"""The stats page in Chromium: cards and charts with data, live; the export downloads."""

from __future__ import annotations

import csv
import io
import json

from playwright.sync_api import expect

from tests.support.admin_browser import sign_in, site  # noqa: F401  (site is a fixture)


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
    assert "Erin Export" in names


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
