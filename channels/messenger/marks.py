"""The marks Switchboard puts on its own Send API calls, and reads back from echoes.

Every message we send carries ``metadata="switchboard:<message id>"``; a message cut into
several parts carries ``switchboard:<message id>:<part index>/<parts>`` on each part, so an
echo tells exactly which part Facebook sent. Facebook copies ``metadata`` into the
``message_echoes`` webhook, which is how a send whose answer was lost is recognised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OWN_METADATA_PREFIX = "switchboard:"
# Message metadata key: the Facebook ids of the parts already delivered, in order.
PROGRESS_KEY = "messenger_parts"

_OWN = re.compile(r"^switchboard:(\d{1,18})(?::(\d{1,4})/(\d{1,4}))?$")


@dataclass(frozen=True)
class OwnMark:
    """Which stored message (and which of its parts) an echo is about."""

    message_id: int
    part: int = 0
    parts: int = 1

    @property
    def is_last_part(self) -> bool:
        return self.part == self.parts - 1


def own_metadata(message_id: int, part: int = 0, parts: int = 1) -> str:
    """The ``metadata`` of one Send API call for part ``part`` of ``parts``."""
    if parts <= 1:
        return f"{OWN_METADATA_PREFIX}{message_id}"
    return f"{OWN_METADATA_PREFIX}{message_id}:{part}/{parts}"


def parse_own_metadata(metadata: str | None) -> OwnMark | None:
    """The mark in an echo's metadata, or None if it is not one of ours (or malformed)."""
    found = _OWN.match(metadata or "")
    if found is None:
        return None
    if found.group(2) is None:
        return OwnMark(int(found.group(1)))
    part, parts = int(found.group(2)), int(found.group(3))
    if not 0 <= part < parts:
        return None
    return OwnMark(int(found.group(1)), part, parts)
