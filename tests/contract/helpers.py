"""Small builders shared by the contract tests (protocol types only, no store specifics)."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from services.models import InboundMessage, OutboundMessage

_ids = itertools.count(1)


def external_id(prefix: str = "ext") -> str:
    """A platform message id no other test message uses."""
    return f"{prefix}-{next(_ids)}"


def inbound(user: str = "user-1", content: str = "hello", *, platform: str = "webchat",
            ext: str | None = None, **fields: Any) -> InboundMessage:
    """A user message from ``user``, with a fresh external id unless one is given."""
    return InboundMessage(platform=platform, external_user_id=user, content=content,
                          external_id=ext or external_id(platform), **fields)


def outbound(conversation_id: int, content: str = "reply", *, sender_type: str = "bot",
             **fields: Any) -> OutboundMessage:
    """A bot/agent/system message into ``conversation_id``."""
    return OutboundMessage(conversation_id=conversation_id, sender_type=sender_type,
                           content=content, **fields)


MISSING_ID = 987_654_321  # an id no test ever creates


def in_parallel(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """``fn(0) .. fn(n-1)`` on ``n`` threads released together by a barrier; results in order."""
    barrier = threading.Barrier(n)

    def run(i: int) -> Any:
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))
