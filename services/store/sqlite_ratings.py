"""Ratings of closed conversations, and the satisfaction stats, in the SQLite store (mixed
into ``SqliteStore``). A rating is three columns of its conversation; the stats of a period
read the rated conversations through ``conversations_rated_idx``."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Callable, ContextManager

from services.errors import Conflict, NotFound
from services.models import (
    RECENT_RATING_COMMENTS,
    SATISFIED_SCORE,
    AgentSatisfaction,
    Conversation,
    RatingComment,
    Satisfaction,
)
from services.store.base import check_rating
from services.store.sqlite_db import conversation_from, one, ts

_PERIOD = "rated_at IS NOT NULL AND rated_at >= :since AND rated_at < :until"


class SqliteRatings:
    """The rating part of ``ConversationStore``; needs ``_tx`` and ``_read``."""

    _tx: Callable[..., ContextManager[sqlite3.Connection]]
    _read: Callable[..., list[sqlite3.Row]]

    def rate_conversation(self, conversation_id: int, score: int, comment: str | None,
                          now: datetime) -> Conversation:
        score, comment = check_rating(score, comment)
        with self._tx() as db:
            row = one(db.execute(
                "UPDATE conversations SET rating = ?, rating_comment = ?, rated_at = ?,"
                " updated_at = ? WHERE id = ? AND status = 'closed' RETURNING *",
                (score, comment, ts(now), ts(now), conversation_id)))
            if row is not None:
                return conversation_from(row)
            if one(db.execute("SELECT 1 FROM conversations WHERE id = ?",
                              (conversation_id,))) is None:
                raise NotFound(f"conversation {conversation_id}")
            raise Conflict("only a closed conversation can be rated")

    def satisfaction(self, since: datetime | None, until: datetime) -> Satisfaction:
        period = {"since": ts(since) if since else "", "until": ts(until),
                  "limit": RECENT_RATING_COMMENTS}
        # One pass over the period's ratings in the index: counts per (score, assignee).
        counts = self._read(
            "SELECT rating, assigned_to, count(*) AS n FROM conversations"
            f" WHERE {_PERIOD} GROUP BY rating, assigned_to", period)
        scores = [0] * 5
        agents: dict[int | None, list[int]] = {}  # assignee -> [rated, score sum, satisfied]
        for row in counts:
            score, n = row["rating"], row["n"]
            scores[score - 1] += n
            agent = agents.setdefault(row["assigned_to"], [0, 0, 0])
            agent[0] += n
            agent[1] += score * n
            agent[2] += n if score >= SATISFIED_SCORE else 0
        rated = sum(scores)
        comments = self._read(
            "SELECT id AS conversation_id, display_name, platform, assigned_to, rating,"
            " rating_comment AS comment, rated_at"
            f" FROM conversations WHERE {_PERIOD} AND rating_comment IS NOT NULL"
            " ORDER BY rated_at DESC, id DESC LIMIT :limit", period)
        return Satisfaction(
            rated=rated,
            average=sum(s * n for s, n in enumerate(scores, 1)) / rated if rated else None,
            satisfied=sum(scores[SATISFIED_SCORE - 1:]),
            by_score=scores,
            by_agent=[
                AgentSatisfaction(user_id=user, rated=n, average=total / n, satisfied=happy)
                for user, (n, total, happy) in sorted(
                    agents.items(), key=lambda a: (-a[1][0], a[0] is None, a[0] or 0))],
            comments=[RatingComment.model_validate(dict(r)) for r in comments],
        )
