"""The deployment of the README on one machine, for the scale tests and the benchmarks:
app processes under gunicorn behind the example nginx, one Redis message queue, one local
Supabase stack and a Graph API stand-in, all on free loopback ports.

Every process is a child started here and stopped by its pid in ``Cluster.close()``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from tests.support.admin import PASSWORD, login_requests
from tests.support.graph_stub import start_graph_stub
from tests.support.live_server import REPO, LiveServer
from tests.support.nginx import NginxProxy
from tests.support.redis_server import RedisServer

APP_SECRET = "scale-test-app-secret"
ADMIN_EMAIL = "scale-admin@example.com"


def _state(pid: int) -> str | None:
    """The process state letter (R, S, Z...), or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (a gunicorn arbiter's are its workers)."""
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(entry))
    return kids


def kill_hard(server: LiveServer) -> list[int]:
    """SIGKILL a gunicorn process: its arbiter and its worker, with no shutdown at all.

    Killing only the arbiter (``LiveServer.kill``) is not a crash: the orphaned worker keeps
    serving for up to a second, notices its parent is gone and shuts down gracefully. The
    arbiter goes first so it cannot fork a new worker; the worker follows at once.
    """
    assert server.proc is not None
    workers = child_pids(server.proc.pid)
    os.kill(server.proc.pid, signal.SIGKILL)
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    server.proc.wait(10)
    deadline = time.monotonic() + 10
    while any(_state(p) not in (None, "Z") for p in workers):
        assert time.monotonic() < deadline, "the gunicorn worker survived SIGKILL"
        time.sleep(0.01)
    return workers


class Cluster:
    """The whole deployment of the README, on one machine."""

    def __init__(self, stack, workdir: Path):
        self.stack = stack
        self.workdir = workdir
        self.redis = RedisServer(workdir / "redis").start()
        self.graph, self._graph_server, self._graph_thread = start_graph_stub()
        self.apps: list[LiveServer] = []
        self.workers: list[subprocess.Popen] = []
        self.nginx: NginxProxy | None = None
        self._generation = 0
        self._admin_made = False

    def env(self, **extra: str) -> dict[str, str]:
        """The environment every process of the deployment shares (plus ``extra``)."""
        return {
            "HOME": str(self.workdir),
            "SUPABASE_URL": self.stack.url,
            "SUPABASE_SERVICE_ROLE_KEY": self.stack.service_role_key,
            "SOCKETIO_MESSAGE_QUEUE": self.redis.url,
            # Rate-limit counters shared by the processes, as the README deploys them.
            "RATELIMIT_STORAGE_URI": self.redis.url.rsplit("/", 1)[0] + "/1",
            "SECRET_KEY": "scale-test-secret-key-shared-by-every-process",
            "FACEBOOK_APP_SECRET": APP_SECRET,
            "FACEBOOK_VERIFY_TOKEN": "scale-verify",
            "FACEBOOK_PAGE_ACCESS_TOKEN": self.graph.token,
            "GRAPH_API_BASE": self.graph.base_url,
            "GRAPH_API_VERSION": self.graph.version,
            "TRUSTED_PROXY_HOPS": "1",
            "LOG_LEVEL": "WARNING",
            "RESPONDER": "faq",
            **extra,
        }

    def start_apps(self, count: int = 2, nginx: bool = True, app_spec: str = "wsgi:app",
                   **extra_env: str) -> list[LiveServer]:
        """Stop the current processes (and nginx), start ``count`` new ones and nginx."""
        self.stop_apps()
        self._generation += 1
        env = self.env(**extra_env)
        self.apps = [
            LiveServer(env, log_path=self.workdir / f"app-{self._generation}-{n}.log",
                       app_spec=app_spec)
            for n in range(count)
        ]
        errors: list[BaseException] = []

        def start(app: LiveServer) -> None:
            try:
                app.start(timeout=60)
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(a,)) for a in self.apps]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            # The ones that did start go too: left running, they would claim the next run's
            # jobs from the shared store (a benchmark saw 20 of 100 replies go missing so).
            self.stop_apps()
            raise errors[0]
        if nginx:
            self.nginx = NginxProxy([f"127.0.0.1:{a.port}" for a in self.apps],
                                    self.workdir / f"nginx-{self._generation}").start()
        return self.apps

    def start_worker(self, **extra_env: str) -> subprocess.Popen:
        """``python worker.py``: background work in a process of its own (stopped with the
        apps). The web processes should run with ``RUN_WORKER_IN_APP=false``."""
        env = {**self.apps[0].env, **extra_env} if self.apps else self.env(**extra_env)
        env = {k: v for k, v in env.items() if k not in ("HOST", "PORT")}
        env.pop("SOCKETIO_ASYNC_MODE", None)  # threads: no gevent outside gunicorn
        log = open(self.workdir / f"worker-{self._generation}-{len(self.workers)}.log", "ab")
        proc = subprocess.Popen([sys.executable, "worker.py"], cwd=REPO, env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.workers.append(proc)
        return proc

    def stop_apps(self) -> None:
        """Stop the worker processes, nginx and the app processes (SIGTERM, then SIGKILL)."""
        for proc in self.workers:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.workers = []
        if self.nginx is not None:
            self.nginx.stop()
            self.nginx = None
        for app in self.apps:
            app.stop(timeout=30)
        self.apps = []

    def close(self) -> None:
        try:
            self.stop_apps()
        finally:
            self.redis.stop()
            self._graph_server.shutdown()
            self._graph_server.server_close()

    def reset_store(self) -> None:
        """Empty the store (accounts too); best with no app process running."""
        self.stack.reset()
        self._admin_made = False

    # -- helpers the tests share ----------------------------------------------------------
    def admin_session(self, base_url: str) -> requests.Session:
        """A browser-like session signed in to ``base_url`` as the cluster's admin."""
        if not self._admin_made:
            made = self.apps[0].flask("users", "create", ADMIN_EMAIL, "--role", "admin",
                                      "--password-stdin", stdin=PASSWORD + "\n")
            assert made.returncode == 0, made.stderr[-1500:]
            self._admin_made = True
        session = requests.Session()
        login_requests(session, base_url, ADMIN_EMAIL)
        return session

    def sql(self, query: str) -> list[list[str]]:
        """Rows of a query on the store's database, as lists of strings."""
        out = self.stack.psql(query)
        return [line.split("|") for line in out.splitlines() if line]

    def wait_until_idle(self, timeout: float = 120.0, settle: float = 1.0) -> None:
        """Until no job is queued or running and the stand-in has heard nothing new for
        ``settle`` seconds."""
        deadline = time.monotonic() + timeout
        last, quiet_since = -1, time.monotonic()
        while True:
            pending = int(self.sql(
                "select count(*) from jobs where status in ('queued', 'running')")[0][0])
            seen = len(self.graph.requests)
            if seen != last:
                last, quiet_since = seen, time.monotonic()
            if pending == 0 and time.monotonic() - quiet_since >= settle:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"still {pending} jobs pending after {timeout:.0f}s")
            time.sleep(0.25)
