"""gunicorn settings for Switchboard: one gevent worker per process.

Socket.IO long-polling needs every request of a session to reach the same process, so
scale out with more processes behind a sticky load balancer, not more workers here.
"""

import os

os.environ.setdefault("SOCKETIO_ASYNC_MODE", "gevent")

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
worker_class = "gevent"
workers = 1
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "4000"))
timeout = 60  # a gevent worker notifies the arbiter between requests; sockets live longer
graceful_timeout = 20
keepalive = 5
accesslog = os.environ.get("ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


def post_worker_init(worker):
    """Start the background jobs (bot answers, outbox, lifecycle sweep) in this process."""
    services = worker.wsgi.extensions["switchboard"]
    if services.settings.run_worker_in_app:
        services.worker.start()


def worker_exit(server, worker):
    services = getattr(worker, "wsgi", None) and worker.wsgi.extensions.get("switchboard")
    if services:
        services.worker.stop(timeout=5)
