"""``CountingStore``: a real store that counts the calls made to it, by method."""

from __future__ import annotations


class CountingStore:
    """Wraps a store; ``calls`` maps each method name to how many times it was called."""

    def __init__(self, store):
        self._store = store
        self.calls: dict[str, int] = {}

    def __getattr__(self, name):
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def counted(*args, **kwargs):
            self.calls[name] = self.calls.get(name, 0) + 1
            return attr(*args, **kwargs)

        return counted
