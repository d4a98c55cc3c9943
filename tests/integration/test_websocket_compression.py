"""Socket.IO's WebSockets run without permessage-deflate unless SOCKETIO_WEBSOCKET_COMPRESSION
is set: a client that offers it (as every browser does) gets an uncompressed socket that
works, over real HTTP to gunicorn's gevent worker."""

import pytest
from websockets.sync.client import connect

from tests.support.live_server import LiveServer


def start(tmp_path, **extra):
    return LiveServer({
        "HOME": str(tmp_path),
        "DATABASE_PATH": str(tmp_path / "ws.db"),
        "SECRET_KEY": "ws-compression-test",
        "LOG_LEVEL": "WARNING",
        "RUN_WORKER_IN_APP": "false",
        **extra,
    }, log_path=tmp_path / "server.log").start()


def handshake(url: str) -> tuple[list[str], str]:
    """The extensions the server agreed to, and the first packet it sent. (The sync client:
    browser tests earlier in the session may leave an event loop running in this thread.)"""
    uri = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    with connect(uri, origin=url, compression="deflate", open_timeout=20) as ws:
        agreed = [e.name for e in ws.protocol.extensions]
        return agreed, ws.recv(timeout=20)


@pytest.mark.parametrize("setting, expected", [
    ({}, []),
    ({"SOCKETIO_WEBSOCKET_COMPRESSION": "false"}, []),
    ({"SOCKETIO_WEBSOCKET_COMPRESSION": "true"}, ["permessage-deflate"]),
])
def test_the_offer_of_compression_is_declined_unless_the_setting_keeps_it(
        tmp_path, setting, expected):
    server = start(tmp_path, **setting)
    try:
        agreed, first = handshake(server.url)
    finally:
        server.stop()
    assert agreed == expected
    assert first.startswith('0{"sid":')  # Engine.IO's open packet: the socket works
