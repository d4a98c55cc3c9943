"""Facebook's ``message_echoes`` for the Graph API stand-in: after the Page sends a message,
a signed webhook reporting it (``is_echo``, ``app_id``, ``metadata``, ``mid``) is POSTed to
the app. Like Facebook, a webhook the app does not take (down, 5xx) is tried again later.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

import requests

from channels.messenger.signature import sign


class EchoPoster:
    """Posts echoes to ``url`` in sending order, each ``delay`` seconds after its message,
    retrying with a short backoff for up to ``give_up`` seconds per echo."""

    def __init__(self, url: str, secret: str, app_id: str, page_id: str, delay: float = 0.0,
                 give_up: float = 120.0) -> None:
        self.url, self.secret, self.app_id, self.page_id = url, secret, app_id, page_id
        self.delay, self.give_up = delay, give_up
        self.posted = 0  # echoes the app answered 200
        self.attempts = 0  # every POST of an echo, answered or not
        self._queue: "queue.Queue[tuple[float, bytes] | None]" = queue.Queue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="graph-echo", daemon=True)
        self._thread.start()

    def echo(self, recipient: str, mid: str, message: dict[str, Any]) -> None:
        """Queue the echo of ``message`` (a Send API ``message`` object) sent as ``mid``."""
        self._queue.put((time.monotonic() + self.delay, self._body(recipient, mid, message)))

    def pending(self) -> int:
        """Echoes not yet taken by the app (nor given up on)."""
        return self._queue.unfinished_tasks

    def stop(self) -> None:
        self._stopping.set()
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _body(self, recipient: str, mid: str, message: dict[str, Any]) -> bytes:
        now_ms = int(time.time() * 1000)
        echo: dict[str, Any] = {"is_echo": True, "app_id": int(self.app_id), "mid": mid}
        if message.get("metadata"):
            echo["metadata"] = message["metadata"]
        if message.get("text"):
            echo["text"] = message["text"]
        if isinstance(message.get("attachment"), dict):
            echo["attachments"] = [message["attachment"]]
        return json.dumps({"object": "page", "entry": [{
            "id": self.page_id, "time": now_ms,
            "messaging": [{"sender": {"id": self.page_id}, "recipient": {"id": recipient},
                           "timestamp": now_ms, "message": echo}],
        }]}).encode()

    def _run(self) -> None:
        session = requests.Session()
        while True:
            item = self._queue.get()
            try:
                if item is None or self._stopping.is_set():
                    if item is None:
                        return
                    continue
                due, body = item  # queued in sending order, so due times only grow
                if self._stopping.wait(max(0.0, due - time.monotonic())):
                    continue
                session = self._deliver(session, body)
            finally:
                self._queue.task_done()

    def _deliver(self, session: requests.Session, body: bytes) -> requests.Session:
        give_up, pause = time.monotonic() + self.give_up, 0.1
        while not self._stopping.is_set():
            self.attempts += 1
            try:
                ok = session.post(self.url, data=body, timeout=5, headers={
                    "Content-Type": "application/json",
                    "X-Hub-Signature-256": sign(body, self.secret),
                }).status_code == 200
            except requests.RequestException:
                ok = False
                session.close()
                session = requests.Session()  # a dead keep-alive connection: start afresh
            if ok:
                self.posted += 1
                break
            if time.monotonic() > give_up or self._stopping.wait(pause):
                break
            pause = min(pause * 2, 1.0)
        return session
