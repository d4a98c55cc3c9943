"""A local stand-in for the Graph API: a real HTTP server answering as Facebook documents.

``POST /<version>/me/messages`` answers ``{"recipient_id", "message_id"}`` (or just
``recipient_id`` for a sender action); ``GET /<version>/<psid>`` answers a registered
profile or error 2018218; ``me/personas`` makes and lists the Page's personas, which a
send may name (``persona_id``; an unknown one: error 100). A wrong or missing token gets error 190. Faults are scripted
on demand (``fail``, ``fail_status``, ``delay``, ``fail_for``, ``deliver_then``), and every
request is recorded.

Like Facebook, it can echo (``echo_to``): after each message it sends it POSTs a signed
``message_echoes`` webhook (``is_echo``, ``app_id``, ``metadata``, ``mid``) to the app,
retrying while the app does not answer 200 -- also when it then answers the sender late or
not at all (``deliver_then``: the message went out, the answer is lost). Every message it
sends is logged per recipient (``delivered``), so tests count duplicates by metadata.

Use the ``graph_stub`` fixture: ``from tests.support.graph_stub import graph_stub``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from urllib.request import ProxyHandler, build_opener

import pytest

from tests.support.graph_echoes import EchoPoster

TOKEN = "stub-page-token-5f2b"
VERSION = "v24.0"


@dataclass
class Recorded:
    """One request as the stand-in received it."""

    method: str
    path: str
    url: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    json: Any
    raw: bytes


@dataclass
class Fetched:
    """An attachment the stand-in fetched from its url, as Facebook does to send it."""

    url: str
    kind: str
    content_type: str
    data: bytes


@dataclass
class Fault:
    """A scripted answer for the next matching request."""

    status: int = 400
    body: dict[str, Any] | None = None
    delay: float = 0.0
    path_contains: str = ""
    passthrough: bool = False  # only delay, then answer normally
    after: int = 0  # let this many matching requests through first
    deliver: bool = False  # send the message (log, echo), then answer with this fault
    drop: bool = False  # close the connection instead of answering
    messages_only: bool = False  # match only Send API calls that carry a message
    recipient: str | None = None  # match only sends to this PSID
    persistent: bool = False  # stays in place for every matching request


@dataclass
class Delivered:
    """One message the stand-in "sent" to a person (what Facebook would show them)."""

    recipient: str
    mid: str
    metadata: str | None
    text: str | None
    at: float
    persona: str | None = None  # the persona it came from (the Page's own: None)


def error_body(code: int, message: str, subcode: int | None = None,
               type_: str = "OAuthException") -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": type_, "code": code,
                             "fbtrace_id": "AbCdEfGhIjK"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


@dataclass
class GraphStub:
    """State of the stand-in; tests script it and read ``requests``."""

    token: str = TOKEN
    version: str = VERSION
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    faults: deque = field(default_factory=deque)
    base_url: str = ""
    delivered: dict[str, list[Delivered]] = field(default_factory=dict)
    echoes: EchoPoster | None = None  # set by ``echo_to``
    # Like Facebook, fetch each attachment's url before sending it (and refuse the send,
    # error 100, when it cannot be fetched); off by default, since most tests send made-up
    # addresses that nothing serves. What was fetched: ``fetched``.
    fetch_attachments: bool = False
    fetched: list[Fetched] = field(default_factory=list)
    # The Page's personas (Personas API): id -> {"id", "name", "profile_picture_url"}.
    personas: dict[str, dict[str, str]] = field(default_factory=dict)
    _persona_ids: Any = field(default_factory=lambda: itertools.count(900001))
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Sends that went out and whose answer is being held back: id -> when the hold ends.
    _holding: dict[int, float] = field(default_factory=dict)

    # -- scripting ---------------------------------------------------------------------
    def fail(self, code: int, message: str = "An error occurred", subcode: int | None = None,
             status: int = 400, type_: str = "OAuthException", path_contains: str = "",
             after: int = 0, messages_only: bool = False) -> None:
        """The next matching request (after ``after`` others) gets a Graph API error body;
        ``messages_only``: the next send of a message (not a profile read, not a sender
        action such as the typing indicator an agent's page causes)."""
        self.faults.append(Fault(status, error_body(code, message, subcode, type_),
                                 path_contains=path_contains, after=after,
                                 messages_only=messages_only))

    def fail_status(self, status: int = 500, body: dict | None = None) -> None:
        """The next request gets a bare HTTP error (no Graph API error body by default)."""
        self.faults.append(Fault(status, body))

    def delay(self, seconds: float, messages_only: bool = False) -> None:
        """The next request (``messages_only``: send of a message) is answered normally, but
        only after ``seconds``."""
        self.faults.append(Fault(delay=seconds, passthrough=True, messages_only=messages_only))

    def fail_sends(self, count: int, status: int = 500, body: dict | None = None) -> None:
        """The next ``count`` message sends are refused (nothing goes out) with this answer;
        other requests (profiles, sender actions) are not affected."""
        for _ in range(count):
            self.faults.append(Fault(status, body, messages_only=True))

    def slow_answers(self, seconds: float) -> None:
        """Every message send goes out at once but is answered ``seconds`` later (a wide
        window for a crash between Facebook sending and the app hearing it), until
        ``clear_faults``."""
        self.faults.append(Fault(200, None, delay=seconds, deliver=True, messages_only=True,
                                 persistent=True))

    def fail_for(self, recipient: str, code: int, message: str, subcode: int | None = None,
                 status: int = 400) -> None:
        """Every send to ``recipient`` gets this Graph API error, until ``clear_faults``."""
        self.faults.append(Fault(status, error_body(code, message, subcode),
                                 messages_only=True, recipient=recipient, persistent=True))

    def deliver_then(self, delay: float = 0.0, drop: bool = False, status: int = 200,
                     body: dict | None = None, count: int = 1) -> None:
        """The next ``count`` message sends go out (logged, echoed), but the answer is lost:
        it comes only after ``delay`` seconds (longer than the client waits), or the
        connection is closed (``drop``), or it is an error (``status``/``body``)."""
        for _ in range(count):
            self.faults.append(Fault(status, body, delay=delay, deliver=True, drop=drop,
                                     messages_only=True))

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def echo_to(self, url: str, app_secret: str, app_id: str = "7000000000001",
                page_id: str = "PAGE", delay: float = 0.0) -> None:
        """Echo every message sent from now on to ``url`` (the app's ``/webhook``), signed
        with ``app_secret``, as Facebook's ``message_echoes`` field does, ``delay`` seconds
        after sending it (Facebook's echoes are not instant either)."""
        self.stop_echoes()
        self.echoes = EchoPoster(url, app_secret, app_id, page_id, delay)

    def stop_echoes(self) -> None:
        """Stop echoing (echoes not yet posted are dropped)."""
        if self.echoes is not None:
            self.echoes.stop()
            self.echoes = None

    @property
    def echoes_posted(self) -> int:
        return self.echoes.posted if self.echoes else 0

    @property
    def echo_attempts(self) -> int:
        return self.echoes.attempts if self.echoes else 0

    def echoes_pending(self) -> int:
        """Echoes not yet answered 200 by the app."""
        return self.echoes.pending() if self.echoes else 0

    def holding(self, for_at_least: float = 0.0) -> int:
        """How many sends have gone out and are still waiting for their answer, with at
        least ``for_at_least`` seconds of the hold left (a crash now catches them in flight)."""
        now = time.monotonic()
        with self._lock:
            return sum(1 for ends in self._holding.values() if ends - now >= for_at_least)

    def delivery_counts(self) -> Counter:
        """How many times each (recipient, metadata) was delivered (our marks are unique
        per message part, so any count above 1 is a duplicate the person saw)."""
        with self._lock:
            return Counter((d.recipient, d.metadata) for ds in self.delivered.values()
                           for d in ds if d.metadata)

    def duplicates(self) -> int:
        """How many (recipient, metadata) were delivered more than once."""
        return sum(1 for n in self.delivery_counts().values() if n > 1)

    def sent_messages(self) -> list[dict[str, Any]]:
        """JSON bodies of every Send API request that carried a message."""
        return [r.json for r in self.requests
                if r.method == "POST" and isinstance(r.json, dict) and "message" in r.json]

    # -- answering -----------------------------------------------------------------------
    def _next_fault(self, rec: Recorded) -> Fault | None:
        body = rec.json if isinstance(rec.json, dict) else {}
        carries_message = rec.method == "POST" and "message" in body
        recipient = (body.get("recipient") or {}).get("id") if carries_message else None
        with self._lock:
            for fault in list(self.faults):
                if fault.path_contains not in rec.path:
                    continue
                if fault.messages_only and not carries_message:
                    continue
                if fault.recipient is not None and fault.recipient != recipient:
                    continue
                if fault.after > 0:
                    fault.after -= 1
                    return None
                if not fault.persistent:
                    self.faults.remove(fault)
                return fault
        return None

    def _authorised(self, rec: Recorded) -> bool:
        header = rec.headers.get("authorization", "")
        offered = header[7:] if header.lower().startswith("bearer ") else None
        if offered is None and isinstance(rec.json, dict):
            offered = rec.json.get("access_token")
        if offered is None:
            offered = (rec.query.get("access_token") or [None])[0]
        return offered == self.token

    def answer(self, rec: Recorded) -> tuple[int, dict[str, Any] | None]:
        """(status, JSON body) for a request; a None body means: close, no answer."""
        fault = self._next_fault(rec)
        if fault is not None and fault.deliver:
            status, payload = self._answer_normally(rec)  # it went out (and is echoed)...
            if fault.delay:
                hold = object()
                with self._lock:
                    self._holding[id(hold)] = time.monotonic() + fault.delay
                try:
                    time.sleep(fault.delay)  # ...but the answer comes too late,
                finally:
                    with self._lock:
                        del self._holding[id(hold)]
            if fault.drop:
                return status, None  # ...or never,
            return (fault.status, fault.body) if fault.body else (status, payload)  # ...or lies
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if not fault.passthrough:
                return fault.status, fault.body or {}
        return self._answer_normally(rec)

    def _answer_normally(self, rec: Recorded) -> tuple[int, dict[str, Any]]:
        if not self._authorised(rec):
            return 400, error_body(190, "Invalid OAuth access token - Cannot parse access token")
        prefix = f"/{self.version}/"
        if not rec.path.startswith(prefix):
            return 400, error_body(2500, "Unknown path components", type_="OAuthException")
        rest = rec.path[len(prefix):]
        if rec.method == "POST" and rest == "me/messages":
            return self._send(rec.json)
        if rest == "me/personas" and rec.method in ("GET", "POST"):
            return self._personas(rec)
        if rec.method == "DELETE" and rest in self.personas:
            with self._lock:
                del self.personas[rest]
            return 200, {"success": True}
        if rec.method == "GET" and "/" not in rest:
            return self._profile(rest)
        return 400, error_body(100, "Unsupported request", type_="GraphMethodException")

    def _send(self, body: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict):
            return 400, error_body(100, "(#100) Invalid parameter")
        recipient = (body.get("recipient") or {}).get("id")
        if not recipient:
            return 400, error_body(100, "(#100) The parameter recipient is required")
        if "sender_action" in body:
            if "message" in body:
                return 400, error_body(100, "(#100) Cannot send both message and state at "
                                            "the same time.", subcode=2018015)
            return 200, {"recipient_id": recipient}
        persona = body.get("persona_id")
        if persona is not None and persona not in self.personas:
            return 400, error_body(100, "(#100) Param persona_id must be a valid persona")
        message = body.get("message")
        if not isinstance(message, dict) or not (message.get("text") or message.get("attachment")):
            return 400, error_body(100, "(#100) The parameter message is required")
        if len(message.get("text") or "") > 2000:
            return 400, error_body(100, "(#100) Length of param message[text] must be less "
                                        "than or equal to 2000")
        quick = message.get("quick_replies")
        if quick is not None:  # as the Send API checks them (at most 13; text ones titled)
            if not isinstance(quick, list) or not 1 <= len(quick) <= 13:
                return 400, error_body(100, "(#100) param message[quick_replies] must have "
                                            "between 1 and 13 elements")
            for item in quick:
                if not isinstance(item, dict) or item.get("content_type") != "text" \
                        or not item.get("title") or len(str(item.get("payload", ""))) > 1000:
                    return 400, error_body(100, "(#100) Invalid quick reply")
        kind = body.get("messaging_type")
        if kind not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
            return 400, error_body(100, "(#100) param messaging_type must be one of "
                                        "{RESPONSE, UPDATE, MESSAGE_TAG}")
        if kind == "MESSAGE_TAG" and not body.get("tag"):
            return 400, error_body(100, "(#100) Param tag is required for MESSAGE_TAG")
        attachment = message.get("attachment")
        if self.fetch_attachments and isinstance(attachment, dict) \
                and attachment.get("type") in ("image", "video", "audio", "file"):
            url = (attachment.get("payload") or {}).get("url")
            try:
                with build_opener(ProxyHandler({})).open(url, timeout=10) as answer:
                    fetched = Fetched(url, attachment["type"],
                                      answer.headers.get("Content-Type", ""), answer.read())
            except (OSError, ValueError, TypeError):
                return 400, error_body(100, "(#100) Failed to fetch the file from the url")
            with self._lock:
                self.fetched.append(fetched)
        mid = f"m_stub{next(self._ids)}"
        self._deliver(recipient, mid, message, persona)
        return 200, {"recipient_id": recipient, "message_id": mid}

    def _personas(self, rec: Recorded) -> tuple[int, dict[str, Any]]:
        """``POST me/personas`` makes one (``name`` at most 50 characters, and a picture
        Facebook fetches when ``fetch_attachments``); ``GET`` lists them, ``limit`` at a
        time after the ``after`` cursor, with ``paging.next`` while more follow."""
        if rec.method == "POST":
            body = rec.json if isinstance(rec.json, dict) else {}
            name, picture = body.get("name"), body.get("profile_picture_url")
            if not isinstance(name, str) or not 1 <= len(name) <= 50:
                return 400, error_body(100, "(#100) Param name must be at most 50 characters")
            if not isinstance(picture, str) or not picture.startswith(("http://", "https://")):
                return 400, error_body(100, "(#100) Param profile_picture_url must be a URL")
            if self.fetch_attachments:
                try:
                    with build_opener(ProxyHandler({})).open(picture, timeout=10) as answer:
                        answer.read()
                except (OSError, ValueError):
                    return 400, error_body(100, "(#100) Failed to fetch the picture")
            with self._lock:
                persona_id = str(next(self._persona_ids))
                self.personas[persona_id] = {"id": persona_id, "name": name,
                                             "profile_picture_url": picture}
            return 200, {"id": persona_id}
        limit = int((rec.query.get("limit") or ["25"])[0])
        start = int((rec.query.get("after") or ["0"])[0])
        with self._lock:
            every = list(self.personas.values())
        page = every[start:start + limit]
        paging: dict[str, Any] = {"cursors": {"before": str(start),
                                              "after": str(start + len(page))}}
        if start + len(page) < len(every):
            paging["next"] = f"{self.base_url}/{self.version}/me/personas?after={start + limit}"
        return 200, {"data": page, "paging": paging}

    # -- delivering and echoing -------------------------------------------------------------
    def _deliver(self, recipient: str, mid: str, message: dict[str, Any],
                 persona: str | None = None) -> None:
        metadata = message.get("metadata")
        with self._lock:
            self.delivered.setdefault(recipient, []).append(Delivered(
                recipient, mid, metadata if isinstance(metadata, str) else None,
                message.get("text"), time.time(), persona))
        echoes = self.echoes
        if echoes is not None:
            echoes.echo(recipient, mid, message)

    def _profile(self, psid: str) -> tuple[int, dict[str, Any]]:
        profile = self.profiles.get(psid)
        if profile is None:
            return 400, error_body(100, "(#100) No profile available for this user.",
                                   subcode=2018218)
        return 200, {**profile, "id": psid}


class _Handler(BaseHTTPRequestHandler):
    server_version = "GraphStub/1.0"
    stub: GraphStub  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        parts = urlsplit(self.path)
        rec = Recorded(
            method=self.command, path=parts.path, url=self.path, query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()}, json=body, raw=raw,
        )
        with self.stub._lock:
            self.stub.requests.append(rec)
        status, payload = self.stub.answer(rec)
        if payload is None:  # a lost answer: the connection closes with nothing sent
            self.close_connection = True
            return
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass

    do_GET = _handle
    do_POST = _handle
    do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


def start_graph_stub() -> tuple[GraphStub, _Server, threading.Thread]:
    """Start a stand-in on a free 127.0.0.1 port; stop it with ``server.shutdown()``."""
    stub = GraphStub()
    handler = type("Handler", (_Handler,), {"stub": stub})
    server = _Server(("127.0.0.1", 0), handler)
    stub.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="graph-stub", daemon=True)
    thread.start()
    return stub, server, thread


@pytest.fixture
def graph_stub():
    """A running Graph API stand-in (``.base_url``, ``.token``, ``.version``)."""
    stub, server, thread = start_graph_stub()
    try:
        yield stub
    finally:
        stub.stop_echoes()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
