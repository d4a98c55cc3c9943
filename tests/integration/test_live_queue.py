"""``PipelinedRedisManager`` against a real redis-server: emits return without waiting for
Redis, reach it complete and in order, share round trips when they queue up, and survive
Redis going away. (Delivery to another app process is in tests/scale/test_two_processes.py.)
"""

from __future__ import annotations

import json
import time

import pytest
import redis
import socketio

from admin_app.live_queue import PipelinedRedisManager, client_manager
from tests.support.redis_server import RedisServer


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def manager(redis_server):
    made = PipelinedRedisManager(redis_server.url, channel="test-channel")
    socketio.Server(async_mode="threading", client_manager=made)  # binds it, starts its listener
    return made


@pytest.fixture
def subscriber(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe("test-channel")
    yield pubsub
    pubsub.close()
    client.close()


def _received(pubsub, count: int, timeout: float = 10.0) -> list[dict]:
    got, deadline = [], time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.2)
        if message is not None:
            got.append(json.loads(message["data"]))
    return got


def _counted(manager, published: int, timeout: float = 5.0) -> None:
    """Until the manager has counted ``published`` messages: it counts once the pipeline's
    answer is back, which can be after a subscriber already has them."""
    deadline = time.monotonic() + timeout
    while manager.published < published and time.monotonic() < deadline:
        time.sleep(0.01)


def test_queued_emits_share_round_trips_and_keep_their_order(manager, subscriber, redis_server):
    admin = redis.Redis.from_url(redis_server.url)
    # While Redis holds every write, the first pipeline waits and the rest queue behind it.
    admin.execute_command("CLIENT", "PAUSE", 1500, "WRITE")
    for n in range(100):
        manager.emit("tick", {"n": n}, namespace="/admin", room="admins")
    assert _received(subscriber, 1, timeout=0.5) == []  # nothing has got through Redis yet
    got = _received(subscriber, 100)
    assert [m["data"][0]["n"] for m in got] == list(range(100))
    assert {m["event"] for m in got} == {"tick"} and got[0]["room"] == "admins"
    _counted(manager, 100)
    assert manager.published == 100
    assert manager.round_trips <= 3, manager.round_trips  # 1 alone, then the queued ones
    admin.close()


def test_a_lone_emit_goes_at_once(manager, subscriber):
    manager.emit("one", {"n": 1}, namespace="/admin", room="admins")
    got = _received(subscriber, 1, timeout=2.0)
    assert [m["event"] for m in got] == ["one"]
    _counted(manager, 1)
    assert manager.round_trips == 1


def test_redis_going_away_loses_only_what_was_sent_meanwhile(manager, redis_server, caplog):
    redis_server.stop()
    manager.emit("lost", {}, namespace="/admin", room="admins")  # never raises to the emitter
    deadline = time.monotonic() + 10
    while "giving up" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "Cannot publish 1 message(s) to redis... giving up" in caplog.text
    redis_server.start()
    client = redis.Redis.from_url(redis_server.url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe("test-channel")
    manager.emit("back", {}, namespace="/admin", room="admins")
    assert [m["event"] for m in _received(pubsub, 1)] == ["back"]
    pubsub.close()
    client.close()


def test_a_message_that_cannot_be_encoded_fails_alone(manager, subscriber, redis_server,
                                                      caplog):
    admin = redis.Redis.from_url(redis_server.url)
    admin.execute_command("CLIENT", "PAUSE", 1000, "WRITE")
    manager.emit("first", {}, namespace="/admin", room="admins")  # holds the publisher
    manager._publish({"method": "emit", "data": [object()]})  # the hook emit() calls
    manager.emit("after", {}, namespace="/admin", room="admins")  # queued with it
    assert [m["event"] for m in _received(subscriber, 2)] == ["first", "after"]
    assert "Cannot encode a message for redis" in caplog.text
    _counted(manager, 2)
    assert manager.published == 2
    admin.close()


def test_only_a_redis_url_gets_the_pipelined_manager():
    assert isinstance(client_manager("redis://127.0.0.1:6379/0"), PipelinedRedisManager)
    assert client_manager(None) is None
    assert client_manager("amqp://guest:guest@127.0.0.1:5672//") is None
