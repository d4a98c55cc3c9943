"""Scale-out as the README deploys it: two gunicorn processes on one Redis message queue and
one Supabase store, behind the example nginx (``tests/support/cluster.py`` starts it all).

1. An event of process A reaches an admin socket held on process B (and sockets opened
   through nginx, over WebSocket and long-polling), a deletion on A too; so does who else
   has a conversation open.
2. 1,000 webhooks spread over A, B and nginx: each message tracked once, each bot reply
   sent once.
3. SIGKILL one process mid-load: nothing that was acknowledged is lost; every bot reply goes
   out exactly once -- the dead process's jobs are taken over when their lease runs out, and
   a send it had in flight is settled by Facebook's echo, which the survivor receives.
4. Background work in its own ``python worker.py`` process (``RUN_WORKER_IN_APP=false``):
   what it does reaches the admins of the web processes through Redis.
5. With AUTO_ASSIGN, an account whose only page is on B is online to A: A's handovers go to
   it while the page is open, and wait once it has been closed for OFFLINE_AFTER_SECONDS;
   a page on A hears it go offline once, though both processes sweep.
6. Business hours set on Settings on A: a visitor's widget on B is told at once, and B's
   ``GET /chat/hours`` has them within BUSINESS_HOURS_REFRESH_SECONDS; reset on B, A follows.
7. A file an agent uploads through nginx (larger than its 1 MiB default) is kept in the
   shared store: its address is nginx's, and either process serves it; a visitor's too.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
import requests
import socketio

from tests.support.admin import csrf_from
from tests.support.chat_client import ChatVisitor
from tests.support.cluster import APP_SECRET, kill_hard
from tests.support.webhook_load import post_webhooks, webhook_body

pytestmark = [pytest.mark.supabase, pytest.mark.timeout(300)]

QUESTION = "what are your opening hours?"
EVENTS = ("conversation.created", "conversation.updated", "message.created", "presence",
          "presence.query", "conversation.deleted", "account.online", "visitor.presence")


def _cookie_header(session) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in session.cookies)


def _admin_socket(url: str, session, transport: str, origin: str | None = None,
                  auth: dict | None = None):
    """A real python-socketio client on ``/admin`` with the session's cookie."""
    received: queue.Queue = queue.Queue()
    sio = socketio.Client(reconnection=False)
    for name in EVENTS:
        sio.on(name, (lambda n: lambda data: received.put((n, data)))(name), namespace="/admin")
    headers = {"Cookie": _cookie_header(session)}
    if origin:
        headers["Origin"] = origin
    sio.connect(url, namespaces=["/admin"], transports=[transport], headers=headers,
                wait_timeout=10, auth=auth)
    return sio, received


def _wait_for(received: queue.Queue, name: str, predicate, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            event, data = received.get(timeout=max(0.05, deadline - time.monotonic()))
        except queue.Empty:
            break
        if event == name and predicate(data):
            return data
    raise AssertionError(f"no matching {name} event within {timeout:.0f}s")


def _sends(cluster, psid_prefix: str) -> list[tuple[int, dict]]:
    """Each Send API message the stand-in got for those people, with its position among
    all the requests it recorded: (position, {psid, text, message_id})."""
    out = []
    for position, rec in enumerate(list(cluster.graph.requests)):
        body = rec.json
        if not (rec.method == "POST" and isinstance(body, dict) and "message" in body):
            continue
        psid = body["recipient"]["id"]
        if not psid.startswith(psid_prefix):
            continue
        metadata = body["message"].get("metadata") or ""
        message_id = (int(metadata.split(":", 1)[1]) if metadata.startswith("switchboard:")
                      else None)
        out.append((position, {"psid": psid, "text": body["message"].get("text"),
                               "message_id": message_id}))
    return out


def _tracked(cluster, mid_prefix: str) -> dict[str, int]:
    """How many times each inbound mid with that prefix is stored."""
    rows = cluster.sql(
        "select external_id, count(*) from messages where sender_type = 'user' "
        f"and external_id like '{mid_prefix}%' group by external_id")
    return {mid: int(n) for mid, n in rows}


def _bot_replies(cluster, mid_prefix: str) -> dict[str, list[tuple[int, str]]]:
    """For each inbound mid with that prefix: its bot replies (id, delivery status)."""
    rows = cluster.sql(
        "select u.external_id, b.id, b.delivery_status from messages u "
        "join messages b on b.sender_type = 'bot' "
        "and (b.metadata ->> 'in_reply_to')::bigint = u.id "
        f"where u.sender_type = 'user' and u.external_id like '{mid_prefix}%'")
    replies: dict[str, list[tuple[int, str]]] = {}
    for mid, bot_id, status in rows:
        replies.setdefault(mid, []).append((int(bot_id), status))
    return replies


def test_webhook_on_process_a_reaches_admin_socket_on_process_b(cluster):
    a, b = cluster.apps
    proxy = cluster.nginx
    browser_b = cluster.admin_session(b.url)
    browser_proxy = cluster.admin_session(proxy.url)
    on_b, from_b = _admin_socket(b.url, browser_b, "websocket")
    # Through nginx: the upgrade headers, and the Host/Origin the same-origin check sees
    # (the WebSocket client sends the Origin of the URL itself, as a browser would).
    proxied_ws, from_ws = _admin_socket(proxy.url, browser_proxy, "websocket")
    proxied_poll, from_poll = _admin_socket(proxy.url, browser_proxy, "polling", proxy.url)
    try:
        first = webhook_body("psid-live-a", "mid.live.1", QUESTION)
        done = post_webhooks([(a.url + "/webhook", first)], APP_SECRET)
        assert done.results[0].status == 200
        created = _wait_for(from_b, "conversation.created",
                            lambda d: d["conversation"]["external_user_id"] == "psid-live-a")
        conversation_id = created["conversation"]["id"]
        for received in (from_ws, from_poll):
            _wait_for(received, "conversation.created",
                      lambda d: d["conversation"]["id"] == conversation_id)

        # Following the conversation on B brings its next message, tracked on A.
        assert on_b.call("join", {"conversation_id": conversation_id}, namespace="/admin",
                         timeout=5) == {"ok": True}
        second = webhook_body("psid-live-a", "mid.live.2", "and on sundays?")
        assert post_webhooks([(a.url + "/webhook", second)], APP_SECRET).results[0].status == 200
        message = _wait_for(from_b, "message.created",
                            lambda d: d["message"]["content"] == "and on sundays?")
        assert message["message"]["conversation_id"] == conversation_id
        assert message["message"]["sender_type"] == "user"

        # An admin on A deletes the conversation: the pages on B and through nginx drop it.
        browser_a = cluster.admin_session(a.url)
        csrf = csrf_from(browser_a.get(a.url + "/", timeout=10).text)
        deleted = browser_a.delete(f"{a.url}/admin/conversations/{conversation_id}",
                                   headers={"X-CSRFToken": csrf}, timeout=10)
        assert deleted.status_code == 200, deleted.text
        for received in (from_b, from_ws, from_poll):
            _wait_for(received, "conversation.deleted",
                      lambda d: d["conversation_id"] == conversation_id)
    finally:
        for sio in (on_b, proxied_ws, proxied_poll):
            sio.disconnect()


def test_who_has_a_conversation_open_crosses_processes(cluster):
    """A page on A and a page on B showing one conversation learn of each other: B's hello
    on joining reaches A, A's answer reaches B, an inbox's question on B reaches A, and A's
    going away reaches B."""
    a, b = cluster.apps
    body = webhook_body("psid-presence", "mid.presence.1", QUESTION)
    assert post_webhooks([(a.url + "/webhook", body)], APP_SECRET).results[0].status == 200
    cid = int(cluster.sql("select id from conversations "
                          "where external_user_id = 'psid-presence'")[0][0])
    on_a, from_a = _admin_socket(a.url, cluster.admin_session(a.url), "websocket")
    on_b, from_b = _admin_socket(b.url, cluster.admin_session(b.url), "websocket")
    try:
        join = {"conversation_id": cid}
        assert on_a.call("join", join, namespace="/admin", timeout=5) == {"ok": True}
        a_viewer = _wait_for(from_a, "presence", lambda d: d["hello"])["viewer"]
        assert on_b.call("join", join, namespace="/admin", timeout=5) == {"ok": True}
        hello = _wait_for(from_a, "presence", lambda d: d["hello"] and d["viewer"] != a_viewer)
        assert hello["conversation_id"] == cid and hello["viewing"] is True
        assert on_a.call("viewing", join, namespace="/admin", timeout=5) == {"ok": True}
        answer = _wait_for(from_b, "presence",
                           lambda d: d["viewer"] == a_viewer and not d["hello"])
        assert answer["viewing"] is True
        # An inbox on B asks who is where: the page on A hears the question.
        assert on_b.call("who", {}, namespace="/admin", timeout=5) == {"ok": True}
        _wait_for(from_a, "presence.query", lambda d: d == {})
        on_a.disconnect()
        _wait_for(from_b, "presence", lambda d: d["viewer"] == a_viewer and not d["viewing"])
    finally:
        for sio in (on_a, on_b):
            sio.disconnect()


def test_thousand_messages_over_both_processes_tracked_and_answered_once(cluster):
    a, b = cluster.apps
    entries = (a.url, b.url, cluster.nginx.url)
    count, people = 1000, 200
    mids = [f"mid.t2.{i}" for i in range(count)]
    targets = [(entries[i % 3] + "/webhook", webhook_body(f"psid-t2-{i % people}", mids[i],
                                                          QUESTION)) for i in range(count)]
    started = time.monotonic()
    load = post_webhooks(targets, APP_SECRET, concurrency=12)
    assert [r.status for r in load.results].count(200) == count, Counter(
        r.status for r in load.results)
    cluster.wait_until_idle(timeout=150)
    print(f"\n1,000 webhooks acknowledged in {load.elapsed:.1f}s, every reply sent "
          f"{time.monotonic() - started:.1f}s after the first ({load.summary()})")

    tracked = _tracked(cluster, "mid.t2.")
    assert set(tracked) == set(mids) and set(tracked.values()) == {1}

    # The admin JSON API counts what the store holds.
    browser = cluster.admin_session(cluster.nginx.url)
    stats = browser.get(f"{cluster.nginx.url}/admin/stats", timeout=10).json()["stats"]
    assert stats["total_messages"] == int(cluster.sql("select count(*) from messages")[0][0])

    replies = _bot_replies(cluster, "mid.t2.")
    assert set(replies) == set(mids)
    assert all(len(r) == 1 and r[0][1] == "sent" for r in replies.values()), \
        [r for r in replies.values() if len(r) != 1 or r[0][1] != "sent"][:5]
    bot_ids = {r[0][0] for r in replies.values()}

    sends = [s for _, s in _sends(cluster, "psid-t2-")]
    per_message = Counter(s["message_id"] for s in sends)
    assert set(per_message) == bot_ids
    assert set(per_message.values()) == {1}, [m for m, n in per_message.items() if n > 1][:5]
    # Every person got exactly as many answers as they asked questions.
    assert Counter(s["psid"] for s in sends) == Counter(
        f"psid-t2-{i % people}" for i in range(count))


def test_sigkill_of_one_process_loses_nothing_acknowledged(cluster):
    # A fresh pair with a short job lease: the survivor takes over the victim's jobs soon.
    # (Not shorter: a batch of jobs still running when its lease ends is claimed again.)
    a, b = cluster.start_apps(JOB_LEASE_SECONDS="5", BOT_TIMEOUT_SECONDS="1", BOT_RETRIES="0",
                              GRAPH_API_TIMEOUT_SECONDS="2", MESSENGER_ECHO_GRACE_SECONDS="5")
    # Facebook echoes every message the Page sends to the public URL; a live process takes it.
    cluster.graph.echo_to(cluster.nginx.url + "/webhook", APP_SECRET)
    try:
        _sigkill_mid_load(cluster, a, b)
    finally:
        cluster.graph.stop_echoes()  # the next tests' processes are elsewhere


def _sigkill_mid_load(cluster, a, b) -> None:
    entries = (a.url, b.url, cluster.nginx.url)
    count, people = 600, 150
    mids = [f"mid.t3.{i}" for i in range(count)]
    targets = [(entries[i % 3] + "/webhook", webhook_body(f"psid-t3-{i % people}", mids[i],
                                                          QUESTION)) for i in range(count)]
    progress = [0]
    outcome: dict = {}
    loader = threading.Thread(target=lambda: outcome.update(
        load=post_webhooks(targets, APP_SECRET, concurrency=12, timeout=10, progress=progress)))
    loader.start()
    while progress[0] < count * 0.35 and loader.is_alive():
        time.sleep(0.005)
    kill_hard(a)
    # What the dead process had already sent is recorded by now; nothing of the survivor's
    # can be a repeat yet (it takes the dead one's jobs over only when their lease ends).
    time.sleep(0.3)
    killed_at = len(cluster.graph.requests)
    loader.join(120)
    assert not loader.is_alive()
    load = outcome["load"]
    acknowledged = {mids[i] for i in load.acknowledged}
    lost_requests = count - len(acknowledged)
    assert count * 0.35 <= len(acknowledged) < count, "the kill did not land mid-load"

    cluster.wait_until_idle(timeout=120)
    tracked = _tracked(cluster, "mid.t3.")
    # Everything acknowledged is stored, once (unacknowledged ones may or may not be).
    assert acknowledged <= set(tracked) and set(tracked.values()) == {1}
    replies = _bot_replies(cluster, "mid.t3.")
    for mid in tracked:
        assert [status for _, status in replies.get(mid, [])] == ["sent"], (mid, replies.get(mid))

    # Facebook redelivers what was not acknowledged; the survivor takes it, once.
    unacknowledged = [(b.url + "/webhook", body) for i, (_, body) in enumerate(targets)
                      if mids[i] not in acknowledged]
    redelivered = post_webhooks(unacknowledged, APP_SECRET, concurrency=8)
    assert all(r.status == 200 for r in redelivered.results)
    cluster.wait_until_idle(timeout=120)
    tracked = _tracked(cluster, "mid.t3.")
    assert set(tracked) == set(mids) and set(tracked.values()) == {1}
    replies = _bot_replies(cluster, "mid.t3.")
    assert set(replies) == set(mids)
    assert all(len(r) == 1 and r[0][1] == "sent" for r in replies.values())
    bot_ids = {r[0][0] for r in replies.values()}

    # Each reply reached Facebook exactly once. A send in flight in the killed process at
    # the moment of the kill went out, but its process never recorded it: its echo, taken
    # by the survivor, marks it sent, and the survivor's retry (after the echo grace) finds
    # it settled instead of sending it again.
    sends = _sends(cluster, "psid-t3-")
    per_message = Counter(s["message_id"] for _, s in sends)
    assert set(per_message) == bot_ids
    repeated = sorted(m for m, n in per_message.items() if n > 1)
    assert repeated == [], [(m, [n for n, s in sends if s["message_id"] == m]) for m in repeated]
    print(f"\nkilled after {killed_at} Graph API requests; {lost_requests} webhooks "
          f"unacknowledged (redelivered); {cluster.graph.echoes_posted} echoes taken; "
          f"no send repeated")


def test_separate_worker_process_answers_and_its_events_reach_the_admins(cluster):
    # The web processes only take webhooks and sockets; `python worker.py` does the rest
    # and emits through the same Redis queue.
    a, b = cluster.start_apps(RUN_WORKER_IN_APP="false")
    cluster.start_worker()
    browser = cluster.admin_session(b.url)
    on_b, from_b = _admin_socket(b.url, browser, "websocket")
    try:
        body = webhook_body("psid-t4-1", "mid.t4.1", QUESTION)
        assert post_webhooks([(a.url + "/webhook", body)], APP_SECRET).results[0].status == 200
        created = _wait_for(from_b, "conversation.created",
                            lambda d: d["conversation"]["external_user_id"] == "psid-t4-1")
        conversation_id = created["conversation"]["id"]
        # The bot's reply, stored by the worker process, updates the conversation for B's
        # admins (message_count 2), and goes out to Messenger once.
        _wait_for(from_b, "conversation.updated",
                  lambda d: d["conversation"]["id"] == conversation_id
                  and d["conversation"]["message_count"] >= 2)
        cluster.wait_until_idle(timeout=30)
        sends = [s for _, s in _sends(cluster, "psid-t4-")]
        assert len(sends) == 1 and sends[0]["message_id"] is not None
    finally:
        on_b.disconnect()


def test_an_account_with_a_page_on_b_is_given_the_handovers_of_a(cluster):
    a, b = cluster.start_apps(AUTO_ASSIGN="true", OFFLINE_AFTER_SECONDS="3",
                              SWEEP_INTERVAL_SECONDS="1")
    browser = cluster.admin_session(a.url)
    csrf = csrf_from(browser.get(a.url + "/", timeout=10).text)
    me = browser.get(a.url + "/admin/me", timeout=10).json()["user"]
    made = browser.put(f"{a.url}/admin/users/{me['id']}/availability", timeout=10,
                       json={"available": True}, headers={"X-CSRFToken": csrf})
    assert made.status_code == 200, made.text  # (HTTP requests are no open page: offline)

    def handover(n: int) -> int:
        body = webhook_body(f"psid-online-{n}", f"mid.online.{n}",
                            "I want to talk to a human please")
        assert post_webhooks([(a.url + "/webhook", body)], APP_SECRET).results[0].status == 200
        cluster.wait_until_idle(timeout=30)
        return int(cluster.sql("select id from conversations "
                               f"where external_user_id = 'psid-online-{n}'")[0][0])

    def assignee(conversation_id: int) -> str:
        return cluster.sql(f"select coalesce(assigned_to::text, '-'), needs_human "
                           f"from conversations where id = {conversation_id}")[0]

    first = handover(1)
    assert assignee(first) == ["-", "t"]  # waiting: available, but no page open

    # A page of the account on A, idle (it counts for nothing), listens.
    watch_a, from_a = _admin_socket(a.url, browser, "websocket", auth={"idle": True})
    on_b, from_b = _admin_socket(b.url, cluster.admin_session(b.url), "websocket")
    try:
        _wait_for(from_b, "account.online", lambda d: d["user_id"] == me["id"])
        _wait_for(from_b, "conversation.updated",
                  lambda d: d["conversation"]["id"] == first
                  and d["conversation"]["assigned_to"] == me["id"])
        time.sleep(4)  # past OFFLINE_AFTER_SECONDS: B's rounds keep the account online
        second = handover(2)  # handed out by A (or the worker on A) from the store
        assert assignee(second) == [str(me["id"]), "t"]
    finally:
        on_b.disconnect()
    time.sleep(4.5)  # the page on B closed: offline after 3 s
    third = handover(3)
    assert assignee(third) == ["-", "t"]
    try:
        # Both processes sweep every second; the page on A hears it once.
        went = _wait_for(from_a, "account.online", lambda d: d["online"] is False)
        assert went["user_id"] == me["id"]
        time.sleep(2)
        later = []
        while not from_a.empty():
            later.append(from_a.get_nowait())
        assert [d for n, d in later if n == "account.online"] == []
    finally:
        watch_a.disconnect()


def test_business_hours_set_on_a_are_in_force_on_b(cluster):
    # Two more sign-ins in this module's minute: past the default limit of 10 a minute.
    a, b = cluster.start_apps(BUSINESS_HOURS_REFRESH_SECONDS="1",
                              LOGIN_RATE_LIMIT="1000 per minute")
    visitor = ChatVisitor(b.url)
    visitor.start()
    widget = visitor.connect()

    def hours_on(app) -> dict | None:
        answer = requests.get(app.url + "/chat/hours", timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()["hours"]

    try:
        assert hours_on(a) is None and hours_on(b) is None  # always open (no BUSINESS_HOURS)
        browser = cluster.admin_session(a.url)
        csrf = csrf_from(browser.get(a.url + "/settings", timeout=10).text)
        tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%a").lower()
        saved = browser.post(a.url + "/settings/hours", timeout=10, allow_redirects=False,
                             data={"csrf_token": csrf, "schedule": f"{tomorrow} 09:00-10:00",
                                   "timezone": "UTC", "closed_dates": "",
                                   "away_message": "Back {next_open}.",
                                   "handoff_message": "Someone will answer."})
        assert saved.status_code == 302, saved.text
        # The widget on B is told at once, through Redis; B's own reads follow its refresh.
        told = widget.wait_for("hours", lambda d: d["hours"] is not None)
        assert told["hours"]["open"] is False and told["hours"]["timezone"] == "UTC"
        assert hours_on(a)["open"] is False
        deadline = time.monotonic() + 5
        while hours_on(b) is None:
            assert time.monotonic() < deadline, "B never read the hours set on A"
            time.sleep(0.2)
        same = ("open", "next_open", "timezone")
        assert [hours_on(b)[k] for k in same] == [hours_on(a)[k] for k in same]

        # Back to the server's settings, on B this time: A follows.
        browser_b = cluster.admin_session(b.url)
        csrf = csrf_from(browser_b.get(b.url + "/settings", timeout=10).text)
        reset = browser_b.post(b.url + "/settings/hours/reset", data={"csrf_token": csrf},
                               timeout=10, allow_redirects=False)
        assert reset.status_code == 302, reset.text
        widget.wait_for("hours", lambda d: d["hours"] is None)
        deadline = time.monotonic() + 5
        while hours_on(a) is not None:
            assert time.monotonic() < deadline, "A kept the hours reset on B"
            time.sleep(0.2)
    finally:
        visitor.close()


def test_a_file_uploaded_through_nginx_is_served_by_either_process(cluster):
    a, b = cluster.start_apps(LOGIN_RATE_LIMIT="1000 per minute")
    proxy = cluster.nginx.url
    visitor = ChatVisitor(b.url)
    visitor.start()
    said = visitor.request("POST", "/chat/messages", json={"content": "the invoice, please?",
                                                           "client_id": "files-scale-1"})
    assert said.status_code == 201, said.text
    conversation_id = said.json()["conversation"]["id"]

    browser = cluster.admin_session(proxy)
    csrf = csrf_from(browser.get(proxy + "/", timeout=10).text)
    data = os.urandom(3 * 1024 * 1024)
    answer = browser.post(f"{proxy}/admin/conversations/{conversation_id}/files", timeout=30,
                          headers={"X-CSRFToken": csrf},
                          files={"file": ("invoice.pdf", data, "application/pdf")})
    assert answer.status_code == 201, answer.text[-500:]
    attachment = answer.json()["attachment"]
    # Built from the address the agent used (nginx's, through X-Forwarded-Host).
    assert attachment["url"].startswith(proxy + "/files/"), attachment
    path = attachment["url"][len(proxy):]
    for base in (proxy, a.url, b.url):
        served = requests.get(base + path, timeout=30)
        assert (served.status_code, served.content == data) == (200, True), base

    # A visitor's photo of 3 MiB, through nginx too, stored with its message.
    photo = os.urandom(3 * 1024 * 1024)
    sent = requests.post(f"{proxy}/chat/{conversation_id}/files", headers=visitor.headers(),
                         data={"client_id": "files-scale-2"}, timeout=30,
                         files={"file": ("photo.jpg", photo, "image/jpeg")})
    assert sent.status_code == 201, sent.text[-500:]
    [mine] = sent.json()["message"]["attachments"]
    assert mine["url"].startswith(proxy + "/files/")
    assert requests.get(a.url + mine["url"][len(proxy):], timeout=30).content == photo


def test_an_agent_on_a_sees_the_visitor_whose_widget_is_on_b(cluster):
    """The page on A asks (visitor.query, through Redis to the widget's room); the widget on
    B answers, and B's word reaches the page on A: on the site, then gone."""
    a, b = cluster.apps
    visitor = ChatVisitor(b.url)
    visitor.start()
    widget = visitor.connect()
    cid = widget.call("message", {"content": QUESTION, "client_id": "here-1"})["conversation_id"]
    page, heard = _admin_socket(a.url, cluster.admin_session(a.url), "websocket")
    try:
        assert page.call("join", {"conversation_id": cid}, namespace="/admin",
                         timeout=5) == {"ok": True}
        assert widget.wait_for("presence_check") == {"conversation_id": cid}
        assert widget.call("here", {"open": False, "visible": True}) == {"ok": True}
        said = _wait_for(heard, "visitor.presence", lambda d: d["conversation_id"] == cid)
        assert (said["online"], said["open"], said["visible"], said["page"]) == (
            True, False, True, None)
        widget.disconnect()
        _wait_for(heard, "visitor.presence",
                  lambda d: d["visitor"] == said["visitor"] and d["online"] is False)
    finally:
        page.disconnect()
        visitor.close()
