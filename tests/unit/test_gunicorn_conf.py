"""gunicorn.conf.py's worker hooks, run as gunicorn runs them in a new worker."""

import gc
import os
import runpy
from pathlib import Path
from types import SimpleNamespace

CONF = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"


def _worker(run_worker_in_app: bool, started: list):
    services = SimpleNamespace(settings=SimpleNamespace(run_worker_in_app=run_worker_in_app),
                               worker=SimpleNamespace(start=lambda: started.append("jobs")))
    return SimpleNamespace(wsgi=SimpleNamespace(extensions={"switchboard": services}))


def _hooks(monkeypatch) -> dict:
    # The file sets SOCKETIO_ASYNC_MODE in the environment: keep that out of other tests.
    monkeypatch.setattr(os, "environ", dict(os.environ))
    return runpy.run_path(str(CONF))


def test_a_new_worker_starts_its_jobs_and_sets_start_up_aside_from_the_collector(monkeypatch):
    hooks, started = _hooks(monkeypatch), []
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        hooks["post_worker_init"](_worker(True, started))
        assert started == ["jobs"]
        # What start-up built (in a real worker: the app and every module it loaded) is
        # frozen, so a full collection under load does not walk it.
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


def test_a_worker_whose_jobs_run_elsewhere_starts_none_and_still_freezes(monkeypatch):
    hooks, started = _hooks(monkeypatch), []
    gc.unfreeze()
    try:
        hooks["post_worker_init"](_worker(False, started))
        assert started == []
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
