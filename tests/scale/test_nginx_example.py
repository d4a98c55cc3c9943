"""``deploy/nginx.conf``: the example renders for any number of processes and nginx accepts it."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.support.nginx import EXAMPLE, NGINX, main_conf, render_site


def test_one_server_line_per_process_and_nothing_left_unfilled():
    site = render_site(["10.0.0.11:5001", "10.0.0.11:5002", "10.0.0.12:5001"],
                       "127.0.0.1:8080", "switchboard.example.com")
    upstream = re.search(r"upstream switchboard \{(.*?)\n\}", site, re.S).group(1)
    assert "ip_hash;" in upstream
    assert re.findall(r"^\s*server (\S+) ", upstream, re.M) == [
        "10.0.0.11:5001", "10.0.0.11:5002", "10.0.0.12:5001"]
    assert "listen 127.0.0.1:8080;" in site and "server_name switchboard.example.com;" in site
    code = [line for line in site.splitlines() if not line.lstrip().startswith("#")]
    assert not any("{{" in line for line in code)
    # The placeholders stay documented in the comments.
    assert "{{APP_SERVER}}" in site and EXAMPLE.read_text().count("{{APP_SERVER}}") >= 2


def test_socket_io_location_upgrades_and_keeps_the_forwarded_headers():
    site = render_site(["127.0.0.1:5001"], "8080")
    socket_io = re.search(r"location /socket\.io/ \{(.*?)\n    \}", site, re.S).group(1)
    # A location that sets any proxy header inherits none, so each must be there.
    for header in ("Host", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
                   "Upgrade", "Connection"):
        assert re.search(rf"proxy_set_header {header}\s", socket_io), header
    assert "proxy_read_timeout 120s;" in socket_io and "proxy_buffering off;" in socket_io


def test_nginx_accepts_the_rendered_example(tmp_path):
    if not os.access(NGINX, os.X_OK):
        pytest.fail(f"{NGINX} is missing: scripts/install_system_deps installs nginx-light")
    (tmp_path / "tmp").mkdir()
    site = tmp_path / "switchboard.conf"
    site.write_text(render_site(["127.0.0.1:5001", "127.0.0.1:5002"], "127.0.0.1:8080"))
    conf = tmp_path / "nginx.conf"
    conf.write_text(main_conf(tmp_path, site))
    check = subprocess.run([NGINX, "-t", "-p", f"{tmp_path}/", "-c", str(conf),
                            "-e", str(tmp_path / "error.log")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
