"""The ``cluster`` of the scale tests (``tests/support/cluster.py``): two app processes
under gunicorn behind the example nginx, one Redis, the local Supabase stack, a Graph API
stand-in. Module-scoped: it starts once per test module; a test that needs other settings
(or kills a process) calls ``cluster.start_apps(...)`` for a fresh pair.
"""

from __future__ import annotations

import pytest

from tests.support.cluster import Cluster


@pytest.fixture(scope="module")
def cluster(supabase_stack, tmp_path_factory):
    supabase_stack.reset()
    made = Cluster(supabase_stack, tmp_path_factory.mktemp("scale"))
    try:
        made.start_apps()
        yield made
    finally:
        made.close()
