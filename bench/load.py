"""Closed-loop HTTP load for the throughput benchmarks, from wrk (Debian package ``wrk``).

The load generator shares the machine's cores with what it measures. The benchmarks used
to send with ``requests`` from Python threads: about 1.8 ms of CPU per request, as much
as the app spends on a webhook, so it took a good part of a core away from the server.
wrk spends about 0.05 ms per request (measured here on the bare route), which leaves the
cores to the app, PostgREST and PostgreSQL.

``prepare`` writes the requests to a file (each body signed as Facebook signs it, when a
secret is given), ``start`` runs ``wrk`` on it with ``bench/wrk_post.lua`` for a fixed
time; ``finish`` waits and parses the totals and latency quantiles (``finish_all`` for
runs made side by side); ``combine`` merges runs made side by side (several processes at
once) or one after another (alternating rounds). Every body
must be new (the webhook deduplicates by message id), so a run that used up its file is
an error, not a figure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from channels.messenger.signature import sign

LUA = Path(__file__).with_name("wrk_post.lua")
# Requests per second a run prepares bodies for: twice the fastest seen (the bare route,
# 2,700 a second in bench/run.py on the sixteenth machine; 4,457 in one second of the
# test_bench_load run that ran out of 4,100 bodies on 6 Dec 2026).
MAX_RATE = 9000


class LoadError(RuntimeError):
    """wrk is missing, failed, or ran out of bodies."""


@dataclass
class WrkRun:
    """One wrk process: what it sent and how long each answer took."""

    requests: int
    seconds: float
    not_200: int
    errors: dict
    quantiles_us: list[int] = field(default_factory=list)  # the 0.1st ... 100th percentile


@dataclass
class Running:
    proc: subprocess.Popen
    file: Path


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if not found:
        raise LoadError("wrk not found: `scripts/install_system_deps` (run by `make bench`) "
                        "installs it, the Debian package wrk")
    return found


def prepare(bodies: list[bytes], secret: str | None = None) -> Path:
    """Write the requests' file (signed here, before any clock starts)."""
    handle, name = tempfile.mkstemp(prefix="wrk-", suffix=".tsv")
    with os.fdopen(handle, "wb") as fh:
        for body in bodies:
            if b"\n" in body or b"\r" in body:
                raise ValueError("a body must be one line (compact JSON)")
            fh.write((sign(body, secret) if secret else "").encode() + b"\t" + body + b"\n")
    return Path(name)


def start(url: str, path: str, requests_file: Path, seconds: float,
          connections: int) -> Running:
    """Run wrk against ``url`` + ``path`` for ``seconds`` with ``connections`` keep-alive
    connections, each POSTing the next request of ``requests_file`` (from ``prepare``) as
    soon as its last one is answered. The file is removed once the run is finished.
    wrk takes whole seconds only (it refuses ``-d3.0s``): ``seconds`` must be one."""
    if seconds != int(seconds) or seconds < 1:
        requests_file.unlink(missing_ok=True)
        raise ValueError(f"wrk runs for whole seconds (1 or more), not {seconds}")
    proc = subprocess.Popen(
        [wrk_binary(), "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "20s",
         "-s", str(LUA), url, "--", str(requests_file), path],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return Running(proc, requests_file)


def finish(running: Running) -> WrkRun:
    out, err = running.proc.communicate()
    running.file.unlink(missing_ok=True)
    line = next((x for x in out.splitlines() if x.startswith("WRK_RESULT ")), None)
    if running.proc.returncode != 0 or line is None:
        raise LoadError(f"wrk failed ({running.proc.returncode}): {err.strip() or out[-500:]}")
    raw = json.loads(line.split(" ", 1)[1])
    if raw["reused"]:
        raise LoadError(f"wrk ran out of bodies and sent {raw['reused']} again: prepare more")
    return WrkRun(raw["requests"], raw["duration_us"] / 1e6, raw["not_200"], raw["errors"],
                  raw["quantiles_us"])


def finish_all(running: list[Running]) -> list[WrkRun]:
    """``finish`` each run; every one is waited for and its file removed even when an
    earlier one failed, whose error is then raised."""
    runs, failure = [], None
    for one in running:
        try:
            runs.append(finish(one))
        except LoadError as exc:
            failure = failure or exc
    if failure is not None:
        raise failure
    return runs


def run(url: str, path: str, bodies: list[bytes], seconds: float, connections: int,
        secret: str | None = None) -> WrkRun:
    return finish(start(url, path, prepare(bodies, secret), seconds, connections))


def bodies_needed(seconds: float) -> int:
    return int(seconds * MAX_RATE) + 100


def _percentile(points: list[tuple[int, float]], q: float) -> float:
    """The ``q`` quantile of weighted latency points ``(microseconds, weight)``."""
    points = sorted(points)
    total = sum(w for _, w in points)
    seen = 0.0
    for value, weight in points:
        seen += weight
        if seen >= total * q - 1e-9:
            return value
    return points[-1][0] if points else 0.0


def combine(runs: list[WrkRun], side_by_side: bool) -> dict:
    """Answers per second, p50/p99 ms and failures over ``runs``: made at the same time
    (``side_by_side``: their rates add up) or one after another (their times add up)."""
    # Each run's thousand quantiles stand for a thousandth of its answers each.
    points = [(value, r.requests / len(r.quantiles_us))
              for r in runs if r.quantiles_us for value in r.quantiles_us]
    requests = sum(r.requests for r in runs)
    seconds = max(r.seconds for r in runs) if side_by_side else sum(r.seconds for r in runs)
    errors = sum(sum(r.errors.values()) for r in runs)
    return {
        "requests": requests,
        "per_s": round(requests / seconds, 1) if seconds else 0.0,
        "p50_ms": round(_percentile(points, 0.50) / 1000, 2),
        "p99_ms": round(_percentile(points, 0.99) / 1000, 2),
        "non_200": sum(r.not_200 for r in runs) + errors,
    }
