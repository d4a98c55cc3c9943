"""Signed Messenger webhooks sent in bulk over loopback: the scale tests and the benchmarks.

``webhook_body`` builds one Page webhook with one text message; ``post_webhooks`` sends
many, each to its own URL (so a run can alternate between processes and the proxy), from
a pool of threads with one keep-alive session each, and reports what each one got.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from dataclasses import dataclass, field

import requests

from channels.messenger.signature import sign


def webhook_body(psid: str, mid: str, text: str, page_id: str = "PAGE") -> bytes:
    """A Page webhook carrying one message from ``psid`` (``mid`` is its unique id)."""
    now_ms = int(time.time() * 1000)
    return json.dumps({
        "object": "page",
        "entry": [{
            "id": page_id, "time": now_ms,
            "messaging": [{
                "sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": now_ms,
                "message": {"mid": mid, "text": text},
            }],
        }],
    }).encode()


@dataclass
class Sent:
    """What one webhook got: the HTTP status (None: no answer at all) and how long it took."""

    url: str
    status: int | None
    seconds: float


@dataclass
class LoadResult:
    results: list[Sent] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def acknowledged(self) -> list[int]:
        """Indexes of the webhooks answered 200."""
        return [i for i, r in enumerate(self.results) if r.status == 200]

    def summary(self) -> dict:
        """Requests per second, p50/p99 time to answer (ms) and how many were not 200."""
        times = sorted(r.seconds for r in self.results)
        return {
            "per_s": round(len(times) / self.elapsed, 1) if self.elapsed else 0.0,
            "p50_ms": round(statistics.median(times) * 1000, 2),
            "p99_ms": round(times[max(0, int(len(times) * 0.99) - 1)] * 1000, 2),
            "non_200": sum(1 for r in self.results if r.status != 200),
        }


def post_webhooks(
    targets: list[tuple[str, bytes]],
    app_secret: str,
    concurrency: int = 8,
    timeout: float = 15.0,
    signed: bool = True,
    progress: list[int] | None = None,
) -> LoadResult:
    """POST each ``(url, body)``, signed with ``app_secret``; never raises for one request.

    ``progress``, when given, is a one-item list bumped after each answer (another thread
    can watch it to act mid-load).
    """
    out: list[Sent | None] = [None] * len(targets)
    lock = threading.Lock()
    next_index = iter(range(len(targets)))

    def work() -> None:
        session = requests.Session()
        while True:
            with lock:
                i = next(next_index, None)
            if i is None:
                break
            url, body = targets[i]
            headers = {"Content-Type": "application/json"}
            if signed:
                headers["X-Hub-Signature-256"] = sign(body, app_secret)
            started = time.perf_counter()
            try:
                status: int | None = session.post(url, data=body, headers=headers,
                                                  timeout=timeout).status_code
            except requests.RequestException:
                status = None
                session.close()
                session = requests.Session()  # a dead keep-alive connection: start afresh
            out[i] = Sent(url, status, time.perf_counter() - started)
            if progress is not None:
                with lock:
                    progress[0] += 1
        session.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=work, name=f"load-{n}") for n in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return LoadResult([r for r in out if r is not None], time.perf_counter() - started)
