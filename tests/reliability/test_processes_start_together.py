"""Several processes of one host start at the same moment on one new SQLite file (the spool,
or the SQLite store): every one of them opens it.

Turning a new file to WAL needs the file to itself, and SQLite answers "database is locked"
at once, without waiting on busy_timeout, while another process holds it. Before
``enable_wal`` retried, 4 processes opening a new file together failed 6 to 15 opens in 100
(the spool and the store alike), and a worker that failed to open the spool did not boot:
the benchmark's two-process cluster lost one of its processes that way.
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from services.spool import InboundSpool
from services.store.sqlite import SqliteStore

ROUNDS = 25
PROCESSES = 4
OPENERS = {"spool": InboundSpool, "store": SqliteStore}


def _open_at(kind: str, path: str, start: float, results) -> None:
    while time.time() < start:  # all released at once: the race is on the first moments
        pass
    try:
        OPENERS[kind](path)
        results.put("ok")
    except Exception as exc:  # noqa: BLE001  (the outcome is what the test counts)
        results.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.parametrize("kind", sorted(OPENERS))
def test_processes_starting_together_all_open_a_new_file(kind, tmp_path: Path, ledger):
    context = multiprocessing.get_context("fork")
    failures: list[str] = []
    for round_ in range(ROUNDS):
        path = str(tmp_path / f"{kind}-{round_}.db")
        results = context.Queue()
        start = time.time() + 0.15
        workers = [context.Process(target=_open_at, args=(kind, path, start, results))
                   for _ in range(PROCESSES)]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(timeout=60)
        failures += [o for o in outcomes if o != "ok"]
        # Each contended open is a fault injected; the ones that opened survived it.
        ledger.fault(PROCESSES)
        ledger.survived(outcomes.count("ok"))
    assert failures == [], f"{len(failures)} of {ROUNDS * PROCESSES} opens failed: {failures[:3]}"
