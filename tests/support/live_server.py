"""Run the product as users do — gunicorn with a gevent worker — on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent


def with_store(request, env: dict[str, str]) -> dict[str, str]:
    """``env`` for a live server on the store a test is parametrised with
    (``request.param``): SQLite as ``env`` says, or the local Supabase stack, emptied."""
    if request.param == "supabase":
        stack = request.getfixturevalue("supabase_stack")
        stack.reset()
        env = {**env, "SUPABASE_URL": stack.url,
               "SUPABASE_SERVICE_ROLE_KEY": stack.service_role_key}
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """One gunicorn process serving ``wsgi:app`` with the given environment."""

    def __init__(
        self,
        env: dict[str, str],
        port: int | None = None,
        log_path: Path | None = None,
        app_spec: str = "wsgi:app",
    ):
        self.app_spec = app_spec
        self.port = port or free_port()
        self.env = {
            "PATH": f"{BIN}:/usr/bin:/bin",
            "HOME": os.environ.get("HOME", "/tmp"),
            "ACCESS_LOG": "",
            **env,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
        }
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "LiveServer":
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", self.app_spec],
            cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill() takes the worker too
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log = self.log_path.read_text(errors="replace")[-4000:] if self.log_path else ""
                raise RuntimeError(f"server did not start on {self.url}\n{log}")
            time.sleep(0.1)

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """``kill -9`` of the arbiter and its worker: no graceful shutdown, for crash tests."""
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()

    def restart(self) -> "LiveServer":
        self.stop()
        return self.start()

    def flask(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        """Run ``flask --app wsgi …`` against the same settings."""
        return subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", *args],
            cwd=REPO, env=self.env, input=stdin, capture_output=True, text=True, timeout=60,
        )
