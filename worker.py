"""Background work in a process of its own: ``python worker.py``.

Use it with ``RUN_WORKER_IN_APP=false`` on the web processes when bot calls or sends
should not share a process with the sockets. With ``SOCKETIO_MESSAGE_QUEUE`` set, what it
changes still reaches the admins connected to any web process.
"""

import gc
import logging
import os
import signal

if os.environ.get("SOCKETIO_ASYNC_MODE", "").lower() == "gevent":
    from gevent import monkey

    monkey.patch_all()

from admin_app import create_app  # noqa: E402
from admin_app import get_services  # noqa: E402


def main() -> None:
    app = create_app()
    with app.app_context():
        services = get_services()
    gc.freeze()  # start-up's objects live as long as the process (see gunicorn.conf.py)
    log = logging.getLogger("switchboard.worker")
    signal.signal(signal.SIGTERM, lambda *_: services.worker.stop(timeout=0))
    log.info("worker started (store: %s)", services.store.kind)
    services.worker.run()


if __name__ == "__main__":
    main()
