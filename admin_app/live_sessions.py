"""Ends the ``/admin`` sockets of accounts that are no longer signed in, even silent ones.

A socket is authenticated when it connects; an open inbox tab may then only listen. When its
account is disabled or its password changes, the events it would keep receiving are exactly
what the account may no longer see, so every ``ADMIN_SESSION_RECHECK_SECONDS`` this process
looks its sockets' accounts up again and disconnects the ones whose session id (account and
password fingerprint, see ``admin_app.auth.SessionUser``) is no longer valid.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from services.errors import StoreUnavailable
from services.models import AdminUser

log = logging.getLogger(__name__)


class _Rounds:
    """A loop of this process that runs ``_round`` every ``interval`` while there is
    something to do (not ``_idle()``), started by ``_wake`` and stopped when idle; the next
    ``_wake`` starts it again. A failing round is logged, and the next one tries again."""

    failure = "a round failed"

    def __init__(self, sleep: Callable[[float], None],
                 start: Callable[[Callable[[], None]], object], interval: float) -> None:
        self._sleep = sleep
        self._start = start
        self.interval = interval
        self._lock = threading.Lock()
        self._running = False

    def _idle(self) -> bool:  # called holding ``_lock``
        raise NotImplementedError

    def _round(self) -> object:
        raise NotImplementedError

    def _wake(self) -> None:
        with self._lock:
            start, self._running = not self._running, True
        if start:
            self._start(self._run)

    def _run(self) -> None:
        while True:
            self._sleep(self.interval)
            with self._lock:
                if self._idle():  # the next _wake starts it again
                    self._running = False
                    return
            try:
                self._round()
            except Exception:  # never let the loop die: the next round tries again
                log.exception("%s", self.failure)


class SocketSessions(_Rounds):
    """The session id behind each socket of this process, re-checked periodically."""

    failure = "could not re-check the admin sockets' sessions"

    def __init__(
        self,
        load_user: Callable[[int], AdminUser | None],
        session_id: Callable[[AdminUser], str],
        disconnect: Callable[[str], None],
        sleep: Callable[[float], None],
        start: Callable[[Callable[[], None]], object],
        interval: float,
    ) -> None:
        super().__init__(sleep, start, interval)
        self._load_user = load_user
        self._session_id = session_id
        self._disconnect = disconnect
        self._sockets: dict[str, str] = {}

    def add(self, sid: str, session_id: str) -> None:
        """A socket connected with this session id; starts the checks if they were idle."""
        with self._lock:
            self._sockets[sid] = session_id
        self._wake()

    def remove(self, sid: str) -> None:
        with self._lock:
            self._sockets.pop(sid, None)

    def check(self) -> list[str]:
        """Disconnect the sockets whose session is no longer valid; returns their sids."""
        with self._lock:
            sockets = dict(self._sockets)
        valid: dict[str, bool] = {}
        stale = []
        for sid, session_id in sockets.items():
            if session_id not in valid:
                user_id = session_id.partition(".")[0]
                try:
                    user = self._load_user(int(user_id)) if user_id.isdigit() else None
                except StoreUnavailable:
                    return stale  # the store is down: look again next time
                valid[session_id] = bool(
                    user and not user.disabled and self._session_id(user) == session_id
                )
            if not valid[session_id]:
                stale.append(sid)
        for sid in stale:
            self.remove(sid)
            log.info("admin socket closed: its account was disabled or its password changed")
            self._disconnect(sid)
        return stale

    def _idle(self) -> bool:
        return not self._sockets

    _round = check


class SeenRounds(_Rounds):
    """Says which accounts have an ``/admin`` socket of this process (``seen``), every
    ``interval`` while there are any: the accounts' ``last_seen_at``, which makes them
    online (``ConversationTracker.is_online``) to every process. Idle while no socket is
    open; the next connection (``wake``) starts it again."""

    failure = "could not say which accounts have a page open"

    def __init__(
        self,
        accounts: Callable[[], set[int]],
        seen: Callable[[set[int]], None],
        sleep: Callable[[float], None],
        start: Callable[[Callable[[], None]], object],
        interval: float,
    ) -> None:
        super().__init__(sleep, start, interval)
        self._accounts = accounts
        self._seen = seen

    def wake(self) -> None:
        """A socket connected (after it is counted in ``accounts``)."""
        self._wake()

    def round(self) -> set[int]:
        """One round: the accounts said to be seen (none when no socket is open)."""
        accounts = self._accounts()
        if accounts:
            self._seen(accounts)
        return accounts

    def _idle(self) -> bool:
        return not self._accounts()

    _round = round
