"""A live Switchboard (gunicorn) wired to the Graph API stand-in, for the reliability tests.

``MessengerApp`` runs the product on either store with Messenger configured against a
``GraphStub`` that echoes every message it sends back to the app's ``/webhook``, signed,
as Facebook does. It reads the store directly (``rows``) to count what was tracked and
sent, and the admin JSON API (``api``) for what agents see.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import requests

from tests.support.admin import PASSWORD
from tests.support.graph_stub import GraphStub
from tests.support.live_server import LiveServer
from tests.support.webhook_load import LoadResult, post_webhooks

APP_SECRET = "reliability-app-secret"
APP_ID = "7000000000001"
PAGE_ID = "PAGE"
ADMIN = "reliability-admin@example.com"


class MessengerApp:
    """One gunicorn process of the product on ``store`` ("sqlite" or "supabase")."""

    def __init__(self, workdir: Path, graph: GraphStub, store: str, stack=None,
                 echo_delay: float = 0.0, **env: str) -> None:
        self.workdir, self.graph, self.store, self.stack = workdir, graph, store, stack
        self.echo_delay = echo_delay
        self.db_path = workdir / "switchboard.db"
        store_env = (
            {"SUPABASE_URL": stack.url, "SUPABASE_SERVICE_ROLE_KEY": stack.service_role_key}
            if store == "supabase" else {"DATABASE_PATH": str(self.db_path)}
        )
        self.server = LiveServer({
            "HOME": str(workdir),
            "SECRET_KEY": "reliability-secret-key",
            "FACEBOOK_APP_SECRET": APP_SECRET,
            "FACEBOOK_APP_ID": APP_ID,
            "FACEBOOK_VERIFY_TOKEN": "reliability-verify",
            "FACEBOOK_PAGE_ACCESS_TOKEN": graph.token,
            "GRAPH_API_BASE": graph.base_url,
            "GRAPH_API_VERSION": graph.version,
            "RESPONDER": "faq",
            "LOG_LEVEL": "INFO",
            **store_env,
            **env,
        }, log_path=workdir / "app.log")
        self._token: str | None = None

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> "MessengerApp":
        """Start (or start again after a kill, on the same port and store)."""
        self.server.start(timeout=60)
        if self.graph.echoes is None or self.graph.echoes.url != self.url + "/webhook":
            self.graph.echo_to(self.url + "/webhook", APP_SECRET, APP_ID, PAGE_ID,
                               delay=self.echo_delay)
        return self

    def log_tail(self, chars: int = 3000) -> str:
        path = self.workdir / "app.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    # -- traffic -------------------------------------------------------------------------
    def post(self, bodies: list[bytes], concurrency: int = 8, **kwargs: Any) -> LoadResult:
        """POST signed webhooks to the app; never raises for one request."""
        return post_webhooks([(self.url + "/webhook", b) for b in bodies], APP_SECRET,
                             concurrency=concurrency, **kwargs)

    # -- the store, read directly -------------------------------------------------------
    def rows(self, sql: str) -> list[list[str]]:
        """Rows of a query (the same SQL runs on both stores), as lists of strings."""
        if self.store == "supabase":
            out = self.stack.psql(sql)
            return [line.split("|") for line in out.splitlines() if line]
        with sqlite3.connect(self.db_path, timeout=30) as db:
            return [["" if v is None else str(v) for v in row] for row in db.execute(sql)]

    def open_jobs(self) -> int:
        return int(self.rows("select count(*) from jobs where status in ('queued', 'running')")
                   [0][0])

    def wait_settled(self, timeout: float = 120.0, settle: float = 2.0) -> None:
        """Until no job is queued or running, every echo was taken, and the stand-in has
        heard nothing new for ``settle`` seconds."""
        deadline = time.monotonic() + timeout
        last, quiet_since = -1, time.monotonic()
        while True:
            jobs = self.open_jobs()
            seen = len(self.graph.requests) + self.graph.echo_attempts
            if seen != last:
                last, quiet_since = seen, time.monotonic()
            if (jobs == 0 and self.graph.echoes_pending() == 0
                    and time.monotonic() - quiet_since >= settle):
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not settled after {timeout:.0f}s: {jobs} jobs open, "
                    f"{self.graph.echoes_pending()} echoes pending\n{self.log_tail()}")
            time.sleep(0.25)

    def replies(self, mid_like: str) -> dict[str, list[tuple[int, str]]]:
        """For each stored user message whose mid matches ``mid_like`` (SQL LIKE): its bot
        replies as (message id, delivery status)."""
        in_reply_to = ("(b.metadata ->> 'in_reply_to')::bigint" if self.store == "supabase"
                       else "json_extract(b.metadata, '$.in_reply_to')")
        rows = self.rows(
            "select u.external_id, b.id, b.delivery_status from messages u "
            f"left join messages b on b.sender_type = 'bot' and {in_reply_to} = u.id "
            f"where u.sender_type = 'user' and u.external_id like '{mid_like}'")
        out: dict[str, list[tuple[int, str]]] = {}
        for mid, bot_id, status in rows:
            out.setdefault(mid, [])
            if bot_id:
                out[mid].append((int(bot_id), status))
        return out

    def tracked(self, mid_like: str) -> dict[str, int]:
        """How many times each user message whose mid matches ``mid_like`` is stored."""
        rows = self.rows("select external_id, count(*) from messages where sender_type = "
                         f"'user' and external_id like '{mid_like}' group by external_id")
        return {mid: int(n) for mid, n in rows}

    # -- the admin API --------------------------------------------------------------------
    def token(self) -> str:
        """An admin API token (the account is made with the CLI, as an operator would)."""
        if self._token is None:
            made = self.server.flask("users", "create", ADMIN, "--role", "admin",
                                     "--password-stdin", stdin=PASSWORD + "\n")
            assert made.returncode == 0, made.stderr[-1500:]
            out = self.server.flask("tokens", "create", ADMIN, "--name", "reliability")
            found = re.search(r"(sbt_\S+)", out.stdout)
            assert out.returncode == 0 and found, out.stderr[-1500:]
            self._token = found.group(1)
        return self._token

    def api(self, path: str) -> Any:
        answer = requests.get(self.url + path, timeout=15,
                              headers={"Authorization": f"Bearer {self.token()}"})
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:500])
        return answer.json()

    def conversations(self) -> list[dict[str, Any]]:
        """Every conversation with all its messages, as the admin API shows them."""
        listed = self.api("/admin/conversations?limit=200")["conversations"]
        return [self.api(f"/admin/conversations/{c['id']}?limit=200") for c in listed]


def message_webhook(psid: str, mid: str, text: str, at_ms: int | None = None) -> dict:
    """One messaging event: ``psid`` wrote ``text`` to the Page."""
    at_ms = at_ms or int(time.time() * 1000)
    return {"sender": {"id": psid}, "recipient": {"id": PAGE_ID}, "timestamp": at_ms,
            "message": {"mid": mid, "text": text}}


def batch(events: list[dict], page_id: str = PAGE_ID) -> bytes:
    """A Page webhook body carrying ``events`` (Facebook batches several per POST)."""
    now_ms = int(time.time() * 1000)
    return json.dumps({"object": "page", "entry": [
        {"id": page_id, "time": now_ms, "messaging": events}]}).encode()


def start_app(request, workdir: Path, graph: GraphStub, store: str, echo_delay: float = 0.0,
              **env: str) -> MessengerApp:
    """A started ``MessengerApp`` on ``store`` (the Supabase stack emptied first)."""
    stack = None
    if store == "supabase":
        stack = request.getfixturevalue("supabase_stack")
        stack.reset()
    workdir.mkdir(parents=True, exist_ok=True)
    return MessengerApp(workdir, graph, store, stack, echo_delay, **env).start()
