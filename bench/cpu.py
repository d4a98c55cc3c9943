"""Where the CPU goes during a benchmark: seconds used by each group of processes.

On one small machine the load generator, PostgreSQL, PostgREST, the gateway and the app
processes share the cores, so a throughput figure alone does not say what limits it; the
CPU each part spends per request does. Read from /proc (Linux), per process and its
descendants alive at the time of each sample.
"""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used) of ``pid``, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def _tree(roots: list[int]) -> set[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _stat(int(entry))
            if found is not None:
                parents.setdefault(found[0], []).append(int(entry))
    out, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid not in out:
            out.add(pid)
            todo += parents.get(pid, [])
    return out


def cpu_seconds(roots: list[int]) -> float:
    """CPU seconds used so far by ``roots`` and their live descendants."""
    total = 0.0
    for pid in _tree(roots):
        found = _stat(pid)
        if found is not None:
            total += found[1]
    return total


def self_seconds() -> float:
    """CPU seconds used by this process (its client threads, the Graph stub) and by the
    children it has waited for (a finished wrk run: the load generator)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def _pid_file(path: Path) -> list[int]:
    try:
        return [int(path.read_text().split()[0])]
    except (OSError, ValueError, IndexError):
        return []


def stack_groups(stack) -> dict[str, list[int]]:
    """The local Supabase stack's processes: PostgreSQL, PostgREST, the nginx gateway."""
    state = Path(stack.state_dir)
    try:
        pg_home = Path(json.loads((state / "config.json").read_text())["pg_home"])
    except (OSError, ValueError, KeyError):
        pg_home = state / "pg"
    return {
        "postgres": _pid_file(pg_home / "data" / "postmaster.pid"),
        "postgrest": _pid_file(state / "postgrest" / "postgrest.pid"),
        "gateway": _pid_file(state / "nginx" / "nginx.pid"),
    }


class CpuMeter:
    """CPU seconds of each group between ``start()`` and ``stop()``, per unit of work."""

    def __init__(self, groups: dict[str, list[int]]):
        self.groups = groups
        self._before: dict[str, float] = {}

    def _sample(self) -> dict[str, float]:
        sample = {name: cpu_seconds(pids) for name, pids in self.groups.items()}
        sample["bench process"] = self_seconds()  # the load generator, the Graph stub
        return sample

    def start(self) -> "CpuMeter":
        self._before = self._sample()
        return self

    def stop(self, units: int) -> dict[str, float]:
        """Milliseconds of CPU per unit (a webhook, say), by group and in total."""
        after = self._sample()
        per = {name: round((after[name] - self._before[name]) * 1000 / max(1, units), 2)
               for name in after}
        per["total"] = round(sum(per.values()), 2)
        return per
