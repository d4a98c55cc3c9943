"""A web chat visitor for tests: the HTTP fallback and a real ``python-socketio`` client."""

from __future__ import annotations

import queue
import re
import time
from typing import Any, Callable

import requests
import socketio

NAMESPACE = "/chat"


class ChatVisitor:
    """One visitor of a live server: its token, its HTTP calls, and its sockets."""

    def __init__(self, base: str, origin: str | None = None) -> None:
        self.base = base
        self.origin = origin
        self.token: str | None = None
        self.visitor_id: str | None = None
        self.conversation_id: int | None = None
        self.sockets: list[socketio.Client] = []

    # -- HTTP --------------------------------------------------------------------------
    def headers(self, token: str | None = None) -> dict[str, str]:
        headers = {}
        if token or self.token:
            headers["Authorization"] = f"Bearer {token or self.token}"
        if self.origin:
            headers["Origin"] = self.origin
        return headers

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {**self.headers(kwargs.pop("token", None)), **kwargs.pop("headers", {})}
        return requests.request(method, self.base + path, headers=headers, timeout=10, **kwargs)

    def start(self, **body) -> dict[str, Any]:
        response = self.request("POST", "/chat/session", json=body)
        assert response.status_code == 200, response.text
        data = response.json()
        self.token, self.visitor_id = data["token"], data["visitor_id"]
        self.conversation_id = data["conversation_id"]
        return data

    def history(self, conversation_id: int | None = None, **params) -> requests.Response:
        cid = conversation_id or self.conversation_id
        return self.request("GET", f"/chat/{cid}/history", params=params)

    def wait_history(
        self, predicate: Callable[[list[dict]], bool], timeout: float = 15.0, **params
    ) -> list[dict]:
        """Poll the history until ``predicate(messages)`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.history(**params)
            assert response.status_code == 200, response.text
            messages = response.json()["messages"]
            if predicate(messages):
                return messages
            if time.monotonic() > deadline:
                raise AssertionError(f"history never matched: {messages}")
            time.sleep(0.2)

    # -- Socket.IO ---------------------------------------------------------------------
    def connect(
        self, conversation_id: int | None = None, token: str | None = None,
        transports: list[str] | None = None,
    ) -> "LiveSocket":
        transports = transports or ["websocket"]
        live = LiveSocket(self.origin)
        auth = {"token": token if token is not None else self.token}
        if conversation_id is not None:
            auth["conversation_id"] = conversation_id
        # websocket-client sends an Origin of its own (set through LiveSocket); polling
        # requests carry it as a header, as a browser's would.
        headers = {"Origin": self.origin} if self.origin and transports == ["polling"] else {}
        live.client.connect(
            self.base, namespaces=[NAMESPACE], auth=auth, headers=headers,
            transports=transports, wait_timeout=10,
        )
        self.sockets.append(live.client)
        return live

    def close(self) -> None:
        for client in self.sockets:
            if client.connected:
                client.disconnect()


class LiveSocket:
    """A connected client that records what the server sends to it."""

    def __init__(self, origin: str | None = None) -> None:
        options = {"origin": origin} if origin else {}
        self.client = socketio.Client(reconnection=False, websocket_extra_options=options)
        self.events: queue.Queue = queue.Queue()
        self.seen: list[tuple[str, Any]] = []
        for name in ("message", "status", "typing", "deleted", "hours", "seen", "presence_check"):
            self.client.on(name, self._recorder(name), namespace=NAMESPACE)

    def _recorder(self, name: str):
        def record(data):
            self.events.put((name, data))
        return record

    def call(self, event: str, data: Any, timeout: float = 10.0) -> Any:
        return self.client.call(event, data, namespace=NAMESPACE, timeout=timeout)

    def wait_for(
        self, name: str, predicate: Callable[[Any], bool] = lambda _: True, timeout: float = 15.0
    ) -> Any:
        """The first ``name`` event (already seen or still to come) matching ``predicate``."""
        for seen_name, data in self.seen:
            if seen_name == name and predicate(data):
                return data
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {name!r} event matched; seen: {self.seen}")
            try:
                seen_name, data = self.events.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append((seen_name, data))
            if seen_name == name and predicate(data):
                return data

    def disconnect(self) -> None:
        self.client.disconnect()


def admin_token(server) -> str:
    """An admin account and API token on the live server (through the CLI)."""
    made = server.flask("users", "create", "agent@example.com", "--role", "admin",
                        "--password-stdin", stdin="a long password\n")
    assert made.returncode == 0 or "already exists" in made.stderr, made.stderr
    token = server.flask("tokens", "create", "agent@example.com", "--name", "tests")
    assert token.returncode == 0, token.stderr
    match = re.search(r"(\S+)\s*$", token.stdout)
    assert match
    return match.group(1)
