"""The example ``deploy/nginx.conf`` rendered with real ports, and an nginx running it.

``render_site`` fills the placeholders of the example (``{{LISTEN}}``, ``{{SERVER_NAME}}``,
one ``{{APP_SERVER}}`` line per app process); ``NginxProxy`` wraps the result in a minimal
main configuration whose pid file, logs and temp files live in its own prefix directory,
and runs nginx in the foreground as a child process, so stopping it is stopping that pid.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import requests

from tests.support.live_server import REPO, free_port

NGINX = "/usr/sbin/nginx"
EXAMPLE = REPO / "deploy" / "nginx.conf"


def render_site(app_servers: list[str], listen: str, server_name: str = "_",
                template: Path = EXAMPLE) -> str:
    """The example with its placeholders filled; the ``{{APP_SERVER}}`` line once per server."""
    if not app_servers:
        raise ValueError("at least one app server")
    lines = []
    for line in template.read_text().splitlines():
        if line.lstrip().startswith("#"):
            lines.append(line)  # the comments name the placeholders; leave them be
        elif "{{APP_SERVER}}" in line:
            lines += [line.replace("{{APP_SERVER}}", server) for server in app_servers]
        else:
            lines.append(line.replace("{{LISTEN}}", listen)
                         .replace("{{SERVER_NAME}}", server_name))
    text = "\n".join(lines) + "\n"
    leftover = [ln for ln in text.splitlines() if "{{" in ln and not ln.lstrip().startswith("#")]
    if leftover:
        raise ValueError(f"unfilled placeholder in {template}: {leftover[0].strip()}")
    return text


def main_conf(prefix: Path, site: Path) -> str:
    """A whole nginx.conf around the site file: everything nginx writes stays in ``prefix``."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read the 0700 tmp dirs
    temp = "".join(f"    {kind}_temp_path {prefix}/tmp/{kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (
        f"{user}worker_processes 1;\n"
        f"pid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/error.log warn;\n"
        "events { worker_connections 4096; }\n"
        "http {\n"
        f"    access_log {prefix}/access.log;\n"
        f"{temp}"
        f"    include {site};\n"
        "}\n"
    )


class NginxProxy:
    """nginx with the rendered example in front of ``app_servers`` (``host:port`` strings)."""

    def __init__(self, app_servers: list[str], prefix: Path, port: int | None = None):
        self.app_servers = list(app_servers)
        self.prefix = Path(prefix)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> "NginxProxy":
        (self.prefix / "tmp").mkdir(parents=True, exist_ok=True)
        site = self.prefix / "switchboard.conf"
        site.write_text(render_site(self.app_servers, f"127.0.0.1:{self.port}"))
        conf = self.prefix / "nginx.conf"
        conf.write_text(main_conf(self.prefix, site))
        check = subprocess.run([NGINX, "-t", "-p", f"{self.prefix}/", "-c", str(conf),
                                "-e", str(self.prefix / "error.log")],
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t refused the rendered config:\n{check.stderr}")
        self.proc = subprocess.Popen(
            [NGINX, "-p", f"{self.prefix}/", "-c", str(conf), "-e", str(self.prefix / "error.log"),
             "-g", "daemon off;"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                requests.get(self.url + "/healthz", timeout=1)
                return self
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"nginx did not start on {self.url}\n{self.error_log()}")
            time.sleep(0.05)

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the master (fast shutdown; it stops its own workers), then SIGKILL."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
