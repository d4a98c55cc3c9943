"""gunicorn settings for Switchboard: one gevent worker per process.

Socket.IO long-polling needs every request of a session to reach the same process, so
scale out with more processes behind a sticky load balancer (``deploy/nginx.conf``), all
on one ``SOCKETIO_MESSAGE_QUEUE``, not with more workers here.
"""

import gc
import os

os.environ.setdefault("SOCKETIO_ASYNC_MODE", "gevent")

_host = os.environ.get("HOST", "127.0.0.1")
_port = os.environ.get("PORT", "5000")

bind = f"{_host}:{_port}"
worker_class = "gevent"
workers = 1
# Each open socket (an admin page, a web-chat visitor) holds one greenlet and connection.
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "4000"))
# The arbiter restarts a worker whose event loop has not reported for this long (a gevent
# worker reports every second while its loop runs, however long its sockets live).
timeout = 60
# On SIGTERM: stop accepting, let requests and sockets finish for this long, then close
# what is left (clients reconnect, through the proxy, to another process). Jobs that were
# running are finished by ``worker_exit``; a job cut short runs again when its lease ends.
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "20"))
# Longer than the proxy's idle upstream keep-alive (4 s in deploy/nginx.conf), so the
# proxy, not gunicorn, closes idle connections and never reuses one closed under it.
keepalive = 5
accesslog = os.environ.get("ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# gunicorn's control socket defaults to one path per user ($XDG_RUNTIME_DIR/gunicorn.ctl or
# ~/.gunicorn/gunicorn.ctl): several app processes on one host would take it from each
# other, so each gets its own, named by its port.
_runtime = os.environ.get("XDG_RUNTIME_DIR")
_ctl_dir = _runtime if _runtime and os.path.isdir(_runtime) else os.path.expanduser("~/.gunicorn")
control_socket = os.path.join(_ctl_dir, f"gunicorn-{_port}.ctl")


def post_worker_init(worker):
    """Start the background jobs (bot answers, outbox, lifecycle sweep) in this process,
    then set what start-up built aside from the garbage collector."""
    services = worker.wsgi.extensions["switchboard"]
    if services.settings.run_worker_in_app:
        services.worker.start()
    # The modules, the app and its services live as long as the process, and are most of
    # its objects: frozen, a full collection under load walks only what came after. Without
    # it each process paused 66-117 ms for one, in the middle of the latency benchmark's
    # 200 webhooks a second; with it, 1-6 ms (README, Under load).
    gc.freeze()


def worker_exit(server, worker):
    """Let the running jobs finish (briefly) before the process goes."""
    services = getattr(worker, "wsgi", None) and worker.wsgi.extensions.get("switchboard")
    if services:
        services.worker.stop(timeout=5)
