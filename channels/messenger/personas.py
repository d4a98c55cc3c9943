"""``Personas``: the Messenger persona an agent's replies go out as.

Facebook shows a message sent with a ``persona_id`` as coming from that persona: its
picture beside it and "Sam from <Page>" above it. With ``MESSENGER_PERSONA_PICTURE_URL``
set, an agent's reply whose account has a name (Settings, ``PUT /admin/me``) goes out as
the Page's persona of that name; the bot's messages, and the replies of accounts without a
name, come from the Page as before.

Personas are looked up by name: the first time a process needs one it reads the Page's
personas (so a persona made by hand, with the agent's own photo, is used as it is), and it
makes one with the shared picture only when none has the name. What it found or made is
kept for the life of the process. Two processes needing a new name at the same moment may
each make one; both are valid, and either is used later.

A persona that cannot be made (Facebook refusing the picture, say) is logged, the reply
goes out from the Page, and the name is not tried again for ``retry_seconds``. A persona
deleted on Facebook since it was found is forgotten when a send naming it is refused (see
``MessengerSender``), and the next reply makes it again.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from channels.messenger.client import MessengerClient
from services.outbox import SendError

log = logging.getLogger(__name__)

NAME_MAX = 50  # characters in a persona's name (the Personas API's limit)
RETRY_SECONDS = 600.0  # a name whose persona could not be made is not tried again sooner
LIST_SECONDS = 5.0  # the longest spent reading the Page's personas (pages after it: skipped)


def persona_name(name: object) -> str | None:
    """The persona name for an account's name: trimmed, cut to ``NAME_MAX`` characters at
    a space where one is near the end; None for no name."""
    if not isinstance(name, str) or not name.strip():
        return None
    name = " ".join(name.split())
    if len(name) <= NAME_MAX:
        return name
    cut = name[:NAME_MAX + 1].rfind(" ")
    return name[:cut if cut >= NAME_MAX // 2 else NAME_MAX].rstrip()


class Personas:
    """The persona ids of agents' names, found or made on first use (one per process)."""

    def __init__(self, client: MessengerClient, picture_url: str,
                 retry_seconds: float = RETRY_SECONDS, list_seconds: float = LIST_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.picture_url = picture_url
        self.retry_seconds = retry_seconds
        self.list_seconds = list_seconds
        self._monotonic = monotonic
        self._ids: dict[str, str] = {}
        self._listed = False
        self._refused: dict[str, float] = {}  # name -> until when it is not tried again
        # One lookup at a time: two replies of a new agent must not make two personas here.
        self._lock = threading.Lock()

    def id_for(self, name: object) -> str | None:
        """The persona id for an agent's name; None: send from the Page."""
        name = persona_name(name)
        if name is None:
            return None
        with self._lock:
            known = self._ids.get(name)
            if known is not None:
                return known
            if self._refused.get(name, 0.0) > self._monotonic():
                return None
            try:
                if not self._listed:
                    self._read_personas()
                    known = self._ids.get(name)
                    if known is not None:
                        return known
                persona_id = self.client.create_persona(name, self.picture_url)
            except SendError as exc:
                log.warning("messenger: no persona for an agent's name, replies go out from "
                            "the Page for %g s: %s", self.retry_seconds, exc.detail)
                self._refused[name] = self._monotonic() + self.retry_seconds
                return None
            self._ids[name] = persona_id
            log.info("messenger: made persona %s for an agent's name", persona_id)
            return persona_id

    def _read_personas(self) -> None:
        """Learn the Page's personas, for at most ``list_seconds`` (a send is waiting on
        this, under its job's lease): a Page with thousands is read in part."""
        deadline = self._monotonic() + self.list_seconds
        for page in self.client.list_personas():
            for persona in page:
                found, pid = persona.get("name"), persona.get("id")
                if isinstance(found, str) and isinstance(pid, str) and pid:
                    self._ids.setdefault(" ".join(found.split()), pid)
            if self._monotonic() >= deadline:
                log.info("messenger: stopped reading the Page's personas after %g s",
                         self.list_seconds)
                break
        self._listed = True

    def forget(self, persona_id: str) -> None:
        """A persona Facebook no longer knows: made again when it is next needed."""
        with self._lock:
            for name, known in list(self._ids.items()):
                if known == persona_id:
                    del self._ids[name]
