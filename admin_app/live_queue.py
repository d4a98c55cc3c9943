"""The Socket.IO message queue between processes (``SOCKETIO_MESSAGE_QUEUE=redis://…``).

python-socketio's ``RedisManager`` delivers an emit to this process's sockets and then
publishes it for the other processes: one Redis round trip per emit, made by the
greenlet that emitted (a webhook's request, a bot job). A tracked message emits two or
three events, so at a few hundred messages a second those round trips were about 8% of a
web process's CPU. ``PipelinedRedisManager`` queues the message instead and one
background task publishes what has queued since its last round trip in one pipeline, in
the order it was emitted. Alone, an emit still goes at once; under load, many share a
round trip, as in the inbound group commit (``services/inbound_batch.py``).

What the other processes receive, and how, is unchanged: the same channel, the same JSON
messages, read by the stock listener. A publish that fails is retried once on a new
connection and then dropped with an error in the log, as the stock manager does: live
updates are best effort, and an admin page fetches what it shows again when its socket
reconnects.
"""

from __future__ import annotations

import threading
from collections import deque

import socketio

MAX_PIPELINE = 200  # messages per round trip at most


class PipelinedRedisManager(socketio.RedisManager):
    """``RedisManager`` whose publishes leave from one background task, pipelined."""

    def __init__(self, url: str, channel: str = "flask-socketio", **kwargs) -> None:
        super().__init__(url, channel=channel, **kwargs)
        self._pending: deque[str] = deque()  # encoded messages, oldest first
        self._start_lock = threading.Lock()
        self._wake = None
        self.round_trips = 0  # pipelines sent (tests and benchmarks read it)
        self.published = 0  # messages in them

    def _publish(self, data: dict) -> None:
        try:  # here, so a message that cannot be encoded fails alone, as with the stock one
            self._pending.append(self.json.dumps(data))
        except Exception as exc:
            self._get_logger().error("Cannot encode a message for redis: %s", exc)
            return
        if self._wake is None:
            with self._start_lock:
                if self._wake is None:
                    wake = self.server.eio.create_event()
                    self.server.start_background_task(self._publisher, wake)
                    self._wake = wake
        self._wake.set()

    def _publisher(self, wake) -> None:
        while True:
            wake.wait()
            wake.clear()
            while self._pending:
                batch = []
                while self._pending and len(batch) < MAX_PIPELINE:
                    batch.append(self._pending.popleft())
                self._send(batch)

    def _send(self, batch: list[str]) -> None:
        for retries_left in (1, 0):
            try:
                if not self.connected:
                    self._redis_connect()
                pipe = self.redis.pipeline(transaction=False)
                for message in batch:
                    pipe.publish(self.channel, message)
                pipe.execute()
                self.round_trips += 1
                self.published += len(batch)
                return
            except Exception as exc:
                self.connected = False
                self._get_logger().error(
                    "Cannot publish %d message(s) to redis... %s", len(batch),
                    "retrying" if retries_left else "giving up",
                    extra={"redis_exception": str(exc)},
                )


def client_manager(url: str | None):
    """The manager for ``SOCKETIO_MESSAGE_QUEUE``: pipelined for Redis, None (stock
    Flask-SocketIO choice, or no queue) otherwise."""
    if url and url.startswith(("redis://", "rediss://", "unix://")):
        return PipelinedRedisManager(url)
    return None
